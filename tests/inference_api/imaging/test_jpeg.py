"""Counting a JPEG's scans from its marker stream, on hostile streams too."""

import pytest

from inference_api.imaging import jpeg
from tests.inference_api.upload_images import encode, jpeg_segments, jpeg_with_scans


def app1_with_thumbnail() -> bytes:
    """An APP1 segment whose payload is a whole JPEG (as EXIF thumbnails are)."""
    thumbnail = encode("JPEG", (8, 8))
    payload = b"Exif\x00\x00" + thumbnail
    return b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload


def test_a_baseline_jpeg_has_one_scan():
    assert jpeg.count_scans(encode("JPEG", (64, 64)), limit=64) == 1


def test_a_progressive_jpeg_has_one_count_per_sos():
    data = encode("JPEG", (64, 64), progressive=True)
    _, scans = jpeg_segments(data)
    assert jpeg.count_scans(data, limit=64) == len(scans) > 1


def test_scans_inside_a_segment_payload_are_not_counted():
    data = encode("JPEG", (64, 64))
    with_thumbnail = data[:2] + app1_with_thumbnail() + data[2:]
    assert jpeg.count_scans(with_thumbnail, limit=64) == 1


def test_counting_stops_at_the_first_end_of_image():
    data = encode("JPEG", (64, 64))
    # An MPO or an Ultra HDR file carries more pictures after the first EOI.
    assert jpeg.count_scans(data + jpeg_with_scans(500), limit=64) == 1


def test_junk_and_fill_bytes_between_markers_are_skipped():
    data = encode("JPEG", (64, 64), progressive=True)
    header, scans = jpeg_segments(data)
    junky = header + b"\x00junk\xff\xff" + b"".join(scans) + b"\xff\xd9"
    assert jpeg.count_scans(junky, limit=64) == len(scans)


def test_it_raises_as_soon_as_the_limit_is_passed():
    with pytest.raises(jpeg.TooManyScans):
        jpeg.count_scans(jpeg_with_scans(65), limit=64)
    assert jpeg.count_scans(jpeg_with_scans(64), limit=64) == 64


def test_a_segment_length_past_the_end_stops_the_walk_without_error():
    data = encode("JPEG", (64, 64))
    cut = data[:2] + b"\xff\xe1\xff\xff" + b"short"
    assert jpeg.count_scans(cut, limit=64) == 0


def test_data_without_soi_is_malformed():
    with pytest.raises(jpeg.MalformedJpeg):
        jpeg.count_scans(b"\x89PNG\r\n\x1a\n", limit=64)
