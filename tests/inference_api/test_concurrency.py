"""Inference slots in-process: a bounded number at once, a bounded wait, then 503.

The wire-level proof with the real model is tests/e2e/test_load_shedding.py.
"""

import threading
import time
from http import HTTPStatus

import pytest

from inference_api import errors
from inference_api.concurrency import in_flight, inference_slot


class Holder:
    """Threads that each take a slot and keep it until released."""

    def __init__(self, count: int) -> None:
        self.taken = threading.Barrier(count + 1)
        self.release = threading.Event()
        self.threads = [threading.Thread(target=self._hold) for _ in range(count)]

    def _hold(self) -> None:
        with inference_slot():
            self.taken.wait(timeout=5)
            self.release.wait(timeout=10)

    def __enter__(self) -> "Holder":
        for thread in self.threads:
            thread.start()
        self.taken.wait(timeout=5)
        return self

    def __exit__(self, *exc) -> None:
        self.release.set()
        for thread in self.threads:
            thread.join(timeout=5)


@pytest.fixture
def slots(settings):
    settings.MAX_CONCURRENT_INFERENCES = 2
    settings.INFERENCE_QUEUE_TIMEOUT = 0.2
    return settings


def test_it_refuses_quickly_with_503_when_every_slot_is_busy(slots):
    with Holder(2):
        assert in_flight() == 2
        started = time.monotonic()
        with pytest.raises(errors.Overloaded) as refused:
            with inference_slot():
                pytest.fail("a third slot must not exist")
        waited = time.monotonic() - started
    assert 0.15 <= waited < 1.0
    assert refused.value.status == HTTPStatus.SERVICE_UNAVAILABLE
    assert refused.value.code == "overloaded"
    assert refused.value.retry_after == errors.Overloaded.retry_after == 1


def test_a_free_slot_is_taken_without_waiting(slots):
    with Holder(1):
        started = time.monotonic()
        with inference_slot():
            assert in_flight() == 2
        assert time.monotonic() - started < 0.1


def test_a_waiting_request_gets_a_slot_freed_within_its_wait(slots):
    slots.INFERENCE_QUEUE_TIMEOUT = 2.0
    holder = Holder(2).__enter__()
    release = threading.Timer(0.2, holder.release.set)
    started = time.monotonic()
    release.start()
    try:
        with inference_slot():
            waited = time.monotonic() - started
            # The slot is one the holders gave back, not a third one.
            assert holder.release.is_set()
            assert in_flight() <= 2
    finally:
        release.cancel()
        holder.__exit__()
    assert 0.15 <= waited < 2.0


def test_slots_are_released_when_the_forward_pass_raises(slots):
    for _ in range(5):
        with pytest.raises(ValueError):
            with inference_slot():
                raise ValueError("model failed")
    assert in_flight() == 0
    with Holder(2):
        pass


def test_the_pool_follows_a_changed_setting(settings):
    settings.INFERENCE_QUEUE_TIMEOUT = 0.05
    settings.MAX_CONCURRENT_INFERENCES = 1
    with Holder(1):
        with pytest.raises(errors.Overloaded):
            with inference_slot():
                pass
    settings.MAX_CONCURRENT_INFERENCES = 3
    with Holder(3):
        assert in_flight() == 3


def test_only_the_configured_number_run_at_once_under_contention(settings):
    settings.MAX_CONCURRENT_INFERENCES = 2
    settings.INFERENCE_QUEUE_TIMEOUT = 0.0
    peak, lock, outcomes = [0], threading.Lock(), []
    start = threading.Barrier(8)

    def request() -> None:
        start.wait(timeout=5)
        try:
            with inference_slot():
                with lock:
                    peak[0] = max(peak[0], in_flight())
                time.sleep(0.2)
            outcomes.append("ok")
        except errors.Overloaded:
            outcomes.append("overloaded")

    threads = [threading.Thread(target=request) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)
    assert peak[0] <= 2
    assert outcomes.count("ok") >= 1
    assert outcomes.count("overloaded") >= 1
    assert len(outcomes) == 8
