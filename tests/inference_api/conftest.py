"""Fixtures of the boundary's tests."""

from collections.abc import Iterator

import pytest

from inference_api.sandbox.pool import DecoderPool


@pytest.fixture
def fresh_pool() -> Iterator[DecoderPool]:
    """A pool of one decoder that has decoded nothing yet, so its peak memory is the test's."""
    pool = DecoderPool(spare=0)
    pool.warm()
    yield pool
    pool.close()
