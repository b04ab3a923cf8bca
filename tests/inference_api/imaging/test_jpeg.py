"""Walking a JPEG's marker stream: scans counted, costly streams refused, hostile ones survived."""

import pytest

from inference_api import errors
from inference_api.imaging import jpeg
from inference_api.imaging.limits import DecodeLimits
from inference_api.testing.images.costly import jpeg_with_many_components
from inference_api.testing.images.uploads import encode, jpeg_segments, jpeg_with_scans


def scan_count(data: bytes, **limits) -> int:
    return jpeg.inspect(data, DecodeLimits.from_settings(**limits)).scans


def app1_with_thumbnail() -> bytes:
    """An APP1 segment whose payload is a whole JPEG (as EXIF thumbnails are)."""
    thumbnail = encode("JPEG", (8, 8))
    payload = b"Exif\x00\x00" + thumbnail
    return b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload


def test_a_baseline_jpeg_has_one_scan():
    assert scan_count(encode("JPEG", (64, 64))) == 1


def test_a_progressive_jpeg_has_one_count_per_sos():
    data = encode("JPEG", (64, 64), progressive=True)
    _, scans = jpeg_segments(data)
    assert scan_count(data) == len(scans) > 1


def test_scans_inside_a_segment_payload_are_not_counted():
    data = encode("JPEG", (64, 64))
    with_thumbnail = data[:2] + app1_with_thumbnail() + data[2:]
    assert scan_count(with_thumbnail) == 1


def test_counting_stops_at_the_first_end_of_image():
    data = encode("JPEG", (64, 64))
    # An MPO or an Ultra HDR file carries more pictures after the first EOI.
    assert scan_count(data + jpeg_with_scans(500)) == 1


def test_junk_and_fill_bytes_between_markers_are_skipped():
    data = encode("JPEG", (64, 64), progressive=True)
    header, scans = jpeg_segments(data)
    junky = header + b"\x00junk\xff\xff" + b"".join(scans) + b"\xff\xd9"
    assert scan_count(junky) == len(scans)


def test_it_refuses_as_soon_as_the_scan_limit_is_passed():
    with pytest.raises(errors.TooManyScans):
        scan_count(jpeg_with_scans(65))
    assert scan_count(jpeg_with_scans(64)) == 64


def test_scans_are_budgeted_by_the_blocks_they_visit():
    # 64 scans of a 1024 px picture pass; the same scans at 4096 px visit 16x the blocks.
    data = jpeg_with_scans(64, (4096, 4096))
    with pytest.raises(errors.TooManyScans):
        scan_count(data, max_jpeg_scan_blocks=10_000_000)
    assert scan_count(data, max_jpeg_scan_blocks=100_000_000) == 64


def test_a_segment_length_past_the_end_ends_the_walk_with_a_refusal_not_a_crash():
    data = encode("JPEG", (64, 64))
    cut = data[:2] + b"\xff\xe1\xff\xff" + b"short"
    with pytest.raises(errors.InvalidImage):
        scan_count(cut)


def test_data_without_soi_is_invalid():
    with pytest.raises(errors.InvalidImage):
        scan_count(b"\x89PNG\r\n\x1a\n")


def test_a_frame_of_more_than_four_components_is_refused_before_its_scans_are_walked():
    # 255 components named by each of 64 scans once cost the walk 0.4 s on 34 KB.
    assert scan_count(jpeg_with_many_components(4)) == 64
    with pytest.raises(errors.InvalidImage):
        scan_count(jpeg_with_many_components(255))


def test_arithmetic_coding_is_refused_from_its_frame_marker():
    data = encode("JPEG", (64, 64), progressive=True).replace(b"\xff\xc2", b"\xff\xca", 1)
    with pytest.raises(errors.InvalidImage, match="coding process"):
        scan_count(data)


@pytest.mark.parametrize(
    ("edit", "limits"),
    [
        (lambda d: d[:-2] + b"\xff" * 200 + d[-2:], {}),  # fill run in entropy-coded data
        (lambda d: d[:2] + b"\xff\xfe\x00\x02" * 50 + d[2:], {"max_jpeg_markers": 40}),
        (
            lambda d: d[:2] + b"\xff\xfe\x10\x02" + bytes(4096) + d[2:],
            {"max_jpeg_metadata_bytes": 4000},
        ),
        (lambda d: d[:2] + bytes(300) + d[2:], {"max_jpeg_fill_bytes": 200}),
    ],
    ids=["fill run", "markers", "metadata bytes", "junk between segments"],
)
def test_a_stream_over_a_structural_cap_is_too_costly(edit, limits):
    data = encode("JPEG", (64, 48))
    assert scan_count(data, **limits) == 1
    with pytest.raises(errors.TooCostly):
        scan_count(edit(data), **limits)
