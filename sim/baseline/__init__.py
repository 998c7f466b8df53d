"""The deterministic baseline: the BOTEC, the seeds' printed figures, and queueing theory."""
