"""Per-request outcomes of one replication, kept as parallel numpy arrays."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PENDING = 0  # arrived, waiting or in service when the run stopped
COMPLETED = 1
DROPPED = 2  # refused at arrival: the queue was full or no replica could take it
TIMED_OUT = 3  # waited longer than admission.timeout and left
LOST = 4  # in service on a replica that died, and not retried

STATUS_NAMES = {
    PENDING: "in_flight",
    COMPLETED: "completed",
    DROPPED: "dropped",
    TIMED_OUT: "timed_out",
    LOST: "lost",
}


@dataclass
class RequestLog:
    """Timestamps (seconds from the start of the run) and status, one row per request."""

    arrival_s: np.ndarray
    start_s: np.ndarray
    first_token_s: np.ndarray
    finish_s: np.ndarray
    status: np.ndarray
    retries: np.ndarray
    replica: np.ndarray  # index of the replica that served it, -1 if none

    @classmethod
    def for_arrivals(cls, arrival_s: np.ndarray) -> RequestLog:
        n = len(arrival_s)
        return cls(
            arrival_s=arrival_s,
            start_s=np.full(n, np.nan),
            first_token_s=np.full(n, np.nan),
            finish_s=np.full(n, np.nan),
            status=np.zeros(n, dtype=np.int8),
            retries=np.zeros(n, dtype=np.int16),
            replica=np.full(n, -1, dtype=np.int32),
        )

    def counts(self) -> dict[str, int]:
        """Requests by outcome; they always add up to the arrivals."""
        found = np.bincount(self.status, minlength=len(STATUS_NAMES))
        out = {name: int(found[code]) for code, name in STATUS_NAMES.items()}
        out["arrived"] = len(self.status)
        out["retried"] = int(np.count_nonzero(self.retries))
        return out
