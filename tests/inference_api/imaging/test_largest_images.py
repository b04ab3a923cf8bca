"""The largest legitimate image of each class the caps allow is answered 200, every time.

`testing/images/largest.py` builds each at 8000x8000 under the byte cap; each
goes through the API ten times, with the real model and the real decoder
pool, whose budget is what the header earns (imaging/cost.py). Before the
cost model one budget of 1 CPU-s served all: the 8000x8000 RGBA and 16-bit
PNGs and the CMYK progressive JPEG were refused `too_costly` on a loaded
machine, some of the time.
"""

import functools
from http import HTTPStatus

import pytest

from inference_api.testing.images.largest import LARGEST, build

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

TIMES = 10
MIB = 1024 * 1024


@functools.cache
def largest(name: str) -> bytes:
    data = build(name)
    assert len(data) <= 10 * MIB, f"{name} is over the byte cap: {len(data):,} bytes"
    return data


@pytest.mark.parametrize("name", sorted(LARGEST))
def test_the_largest_image_of_each_class_is_answered_200_ten_times(
    name, post_upload, exported_model
):
    data, content_type = largest(name), LARGEST[name][1]
    codes = []
    for _ in range(TIMES):
        response = post_upload(data, f"{name}.img", content_type)
        codes.append(
            response.status_code if response.status_code == 200 else response.json()["code"]
        )
    assert codes == [HTTPStatus.OK] * TIMES, f"{name}: {codes}"
