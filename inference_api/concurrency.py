"""Load shedding: a bounded number of forward passes per process.

A request waits at most INFERENCE_QUEUE_TIMEOUT seconds for a slot and is
then refused with 503 instead of queueing without bound behind the others.
"""

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings

from . import errors

_lock = threading.Lock()
_slots: threading.BoundedSemaphore | None = None
_in_flight = 0


def _semaphore() -> threading.BoundedSemaphore:
    global _slots
    with _lock:
        if _slots is None:
            _slots = threading.BoundedSemaphore(settings.MAX_CONCURRENT_INFERENCES)
        return _slots


def in_flight() -> int:
    """How many forward passes this process is running now."""
    return _in_flight


@contextmanager
def inference_slot() -> Iterator[None]:
    """Hold one of the process's inference slots, or raise `errors.Overloaded`."""
    global _in_flight
    slots = _semaphore()
    if not slots.acquire(timeout=settings.INFERENCE_QUEUE_TIMEOUT):
        raise errors.Overloaded(retry_after=1)
    with _lock:
        _in_flight += 1
    try:
        yield
    finally:
        with _lock:
            _in_flight -= 1
        slots.release()
