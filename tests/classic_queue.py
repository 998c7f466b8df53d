"""DESIGN.md's classic-queue example as a scenario file: an M/M/c queue with c = 4."""

CLASSIC = """\
[traffic]
rate_per_s = 3.2
profile = "constant"
arrival = "poisson"

[service]
model = "latency"
latency = { dist = "exponential", mean = 1.0 }

[fleet]
replicas = 4

[batching]
policy = "none"

[autoscaling]
policy = "fixed"
"""

# The same, short enough to run inside a CLI test.
CLASSIC_SHORT = 'horizon = "10m"\nreplications = 1\n\n' + CLASSIC
