"""Memory at start: the proportional set size of each server's processes, once it is up.

PSS (from /proc/<pid>/smaps_rollup) shares each page among the processes
that map it, so the sum over a server's processes is what the server costs
the machine: for the service the gunicorn master, its 2 workers (the model
preloaded in the master, shared copy-on-write) and their decoder processes
(each worker's zygote and its warm decoders); for the FastAPI service its
one uvicorn process. Read once the process tree has stopped growing (the
decoders start in the background after the fork), before any request, and
again after the whole run. The promise: this checkout's figure within 10%
of the baseline's.
"""

import time
from pathlib import Path

from inference_api.testing.servers import descendants

GROWTH_TARGET = 1.10


def pss_kb(pid: int) -> int:
    """A process's proportional set size in KiB (0 if it is gone)."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0
    return next((int(line.split()[1]) for line in text.splitlines() if line.startswith("Pss:")), 0)


def settled(pid: int, quiet_seconds: float = 2.0, timeout: float = 30.0) -> list[int]:
    """The processes of the tree under `pid` once their number has not changed for a while."""
    deadline = time.monotonic() + timeout
    seen, since = [pid, *descendants(pid)], time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = [pid, *descendants(pid)]
        if now != seen:
            seen, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_seconds:
            break
    return seen


def snapshot(pid: int) -> dict:
    """The summed PSS of the tree under `pid`, and how many processes it counted."""
    processes = settled(pid)
    return {"pss_mib": sum(pss_kb(p) for p in processes) / 1024, "processes": len(processes)}


def growth(at_start: dict[str, dict]) -> float | None:
    if "baseline" not in at_start:
        return None
    return at_start["this"]["pss_mib"] / at_start["baseline"]["pss_mib"]
