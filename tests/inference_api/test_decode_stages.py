"""testing/decode_stages.py: the benchmarks' per-stage timing of a decode."""

import pytest

from inference_api.testing.decode_stages import stage_times
from inference_api.testing.images.uploads import encode


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_it_times_each_stage_of_a_decode(fmt):
    times = stage_times(encode(fmt, (640, 480)), repeats=3)
    expected = ["walk", "decode to the picture", "resize and crop", "prepare (all of it)"]
    if fmt == "PNG":
        expected.insert(1, "inflate (ISA-L, to stored blocks)")
    assert list(times) == expected
    assert all(ms >= 0 for ms in times.values())
