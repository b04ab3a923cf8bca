"""Give the heap back after a large body: a worker's RSS returns to its level.

The server runs glibc's malloc with fixed thresholds (MALLOC_MMAP_THRESHOLD_
32 MiB, MALLOC_TRIM_THRESHOLD_ 128 MiB; Dockerfile, bench/alternatives.py):
a body's buffers come from the heap, and up to 128 MiB of it, once free, is
kept instead of returned. A series of bodies refused at the cap (413) so
left a worker ~120 MiB larger than before. After a request whose body was
large, `malloc_trim(0)` hands the free heap back (a few ms, only then). It
runs when the next request starts (or the worker's answer is closed), when
the body and everything that held it (a refusal's traceback) are gone.
"""

import ctypes
import ctypes.util
import threading

# A body this large (declared, or a chunked one of unknown size) is followed by a trim.
LARGE_BODY_BYTES = 1024 * 1024

_pending = threading.local()


def _libc_trim():
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None  # not glibc: nothing kept to give back this way


_malloc_trim = _libc_trim()


def note_body(declared: int, chunked: bool) -> None:
    """Remember that this thread's request carries a large body (trim after it)."""
    if chunked or declared >= LARGE_BODY_BYTES:
        _pending.trim = True


def trim_after_answer(**_kwargs) -> bool:
    """request_finished: give back what is free already; the next request trims again."""
    return _trim(keep_pending=True)


def trim_before_next(**_kwargs) -> bool:
    """request_started: give back what the last large body left, now that it is all free."""
    return _trim(keep_pending=False)


def _trim(keep_pending: bool) -> bool:
    if not getattr(_pending, "trim", False) or _malloc_trim is None:
        return False
    _pending.trim = keep_pending
    _malloc_trim(0)
    return True
