"""Money: what a replication's replicas, requests, storage and bandwidth cost."""
