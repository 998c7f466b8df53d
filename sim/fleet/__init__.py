"""The fleet in motion: autoscaling policies, cold starts, spot markets, serverless containers."""
