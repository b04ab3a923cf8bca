"""Load shedding: a bounded number of forward passes per process.

A request waits at most INFERENCE_QUEUE_TIMEOUT seconds for one of the
MAX_CONCURRENT_INFERENCES slots and is then refused with 503 `overloaded`
and a Retry-After, instead of queueing without bound behind the others
(each waiting request holds a worker thread and its decoded image).
"""

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings

from . import errors

_lock = threading.Lock()
_slots: threading.BoundedSemaphore | None = None
_size = 0
_in_flight = 0


def _semaphore() -> threading.BoundedSemaphore:
    """The process's slots, sized from the setting (rebuilt if the setting changes)."""
    global _slots, _size
    wanted = max(1, int(settings.MAX_CONCURRENT_INFERENCES))
    with _lock:
        if _slots is None or _size != wanted:
            _slots = threading.BoundedSemaphore(wanted)
            _size = wanted
        return _slots


def in_flight() -> int:
    """How many forward passes this process is running now."""
    return _in_flight


@contextmanager
def inference_slot() -> Iterator[None]:
    """Hold one of the process's inference slots, or raise `errors.Overloaded`.

    The slot is released on the semaphore it was taken from, so a resize of
    the pool (a settings change in tests) never over-releases the new one.
    """
    global _in_flight
    slots = _semaphore()
    if not slots.acquire(timeout=max(0.0, settings.INFERENCE_QUEUE_TIMEOUT)):
        raise errors.Overloaded()
    with _lock:
        _in_flight += 1
    try:
        yield
    finally:
        with _lock:
            _in_flight -= 1
        slots.release()
