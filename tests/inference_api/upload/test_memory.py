"""The worker's heap trim after a large body: only when much of the heap is free.

Real glibc: these run where the suite runs (Debian's glibc, 2.33 or later).
"""

import pytest

from inference_api.upload import memory


@pytest.fixture
def after_a_large_body(monkeypatch):
    memory.note_body(declared=memory.LARGE_BODY_BYTES, chunked=False)
    yield
    monkeypatch.setattr(memory, "KEEP_FREE_BYTES", 2**62)
    memory.trim_before_next()  # the next request forgets the body, whatever it found


def test_glibc_says_how_much_of_its_heap_is_free():
    free = memory.free_heap_bytes()
    assert isinstance(free, int) and free >= 0


def test_a_small_body_is_followed_by_no_trim():
    memory.note_body(declared=memory.LARGE_BODY_BYTES - 1, chunked=False)
    assert memory.trim_after_answer() is False


def test_a_large_body_leaving_little_free_heap_is_followed_by_no_trim(
    after_a_large_body, monkeypatch
):
    monkeypatch.setattr(memory, "KEEP_FREE_BYTES", memory.free_heap_bytes() + 1024 * 1024)
    assert memory.trim_after_answer() is False
    assert memory.trim_before_next() is False


def test_a_large_body_leaving_much_free_heap_is_trimmed_after_the_answer_and_before_the_next(
    after_a_large_body, monkeypatch
):
    monkeypatch.setattr(memory, "KEEP_FREE_BYTES", -1)  # whatever is free counts as much
    assert memory.trim_after_answer() is True
    assert memory.trim_before_next() is True
    assert memory.trim_before_next() is False  # once the next request has trimmed, no more
