"""The serving engine: requests, replicas, routers, waiting lines, service time, compiled loop."""
