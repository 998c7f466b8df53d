"""Monte Carlo: one seeded replication, many of them, their aggregate, the run plan and compare."""
