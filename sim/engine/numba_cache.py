"""Drop a module's numba cache when a file compiled into it has changed.

numba checks a cached function against its own source file only, so after a
change to `service_time.py` alone (a `git pull`, say) it would load a kernel or
a rule with the old roofline compiled in. A digest of each such file, kept
beside the cache, catches it. A read-only cache directory is left alone: numba
then caches elsewhere, and an install that changes a file replaces both.
"""

from __future__ import annotations

import hashlib
from pathlib import Path


def drop_stale_cache(cache_dir: Path, module_stem: str, dependency: Path) -> None:
    """Delete `module_stem`'s cached functions in `cache_dir` if `dependency` changed
    since they were built."""
    digest = hashlib.sha256(dependency.read_bytes()).hexdigest()
    stamp = cache_dir / f"{module_stem}.{dependency.stem}.sha256"
    try:
        if stamp.exists() and stamp.read_text() == digest:
            return
        for cached in cache_dir.glob(f"{module_stem}.*.nb[ic]"):
            cached.unlink(missing_ok=True)
        cache_dir.mkdir(exist_ok=True)
        stamp.write_text(digest)
    except OSError:
        pass
