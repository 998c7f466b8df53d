"""The one error a workload input raises: a trace or CDF file, or a profile, that cannot be used."""


class WorkloadError(ValueError):
    """Bad workload input; the message names the file or key and what is allowed."""
