"""Whether a process still runs: the one check behind the OUT lock, stale spill folders and the
workers that watch their build."""

import os
from pathlib import Path


def alive(pid) -> bool:
    """Whether process `pid` exists (one owned by another user counts)."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, owned by someone else
        return True
    return True


def started(pid: int) -> str | None:
    """The start time of process `pid` (clock ticks since boot, Linux), telling a reused pid apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2:].split()[19]
