"""Give the heap back after a large body, when a large part of it is free.

The server runs glibc's malloc with fixed thresholds (MALLOC_MMAP_THRESHOLD_
32 MiB, MALLOC_TRIM_THRESHOLD_ 128 MiB; Dockerfile, bench/alternatives.py):
a body's buffers come from the heap, and up to 128 MiB of it, once free, is
kept instead of returned. A series of bodies refused at the cap (413) so
left a worker ~120 MiB larger than before. After a request whose body was
large, `malloc_trim(0)` hands the free heap back, when the body and
everything that held it (a refusal's traceback) are gone: at the answer's
close and again when the next request starts.

Only when more than `KEEP_FREE_BYTES` of the heap is free, though. The trim
gives back every free page, the forward pass's activations included (torch
takes them from the same heap): a trim after each 3 MB PNG made the next
forward pass fault ~16 MB back in (4,100 page faults, 4-6 ms of a ~14 ms
pass). What an ordinary upload leaves free (19-27 MiB after a 2 MP PNG; the
oneDNN-fused forward pass takes larger buffers than the plain one's 15-21)
is below the bar and is reused by the next one; eight 10 MiB bodies refused
at the cap are above it.
"""

import ctypes
import ctypes.util
import threading

# A body this large (declared, or a chunked one of unknown size) is followed by a trim.
LARGE_BODY_BYTES = 1024 * 1024
# Free heap kept for the next request: more than an ordinary upload leaves free.
KEEP_FREE_BYTES = 32 * 1024 * 1024

_pending = threading.local()


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd",
            "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost",
        )
    ]  # fmt: skip


def _load_libc() -> ctypes.CDLL | None:
    library = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(library) if library else None
    except OSError:
        return None


_LIBC = _load_libc()


def _libc_function(name: str, restype=None):
    """A function of the C library, or None where there is none (not glibc, or too old)."""
    function = getattr(_LIBC, name, None) if _LIBC is not None else None
    if function is not None and restype is not None:
        function.restype = restype
    return function


_malloc_trim = _libc_function("malloc_trim")
_mallinfo2 = _libc_function("mallinfo2", _MallInfo2)  # glibc 2.33+


def note_body(declared: int, chunked: bool) -> None:
    """Remember that this thread's request carries a large body (trim after it)."""
    if chunked or declared >= LARGE_BODY_BYTES:
        _pending.trim = True


def free_heap_bytes() -> int | None:
    """What glibc's heap holds free (in every arena), None where that is not known."""
    return _mallinfo2().fordblks if _mallinfo2 is not None else None


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
    free = free_heap_bytes()
    if free is not None and free <= KEEP_FREE_BYTES:
        return False  # an ordinary upload's: the next request reuses it
    _malloc_trim(0)
    return True
