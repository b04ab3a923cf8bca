"""imaging/inflate.py: a PNG's rows inflated by ISA-L, read by Pillow from stored blocks."""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from inference_api import errors
from inference_api.imaging import inflate, png
from inference_api.imaging.limits import DecodeLimits
from inference_api.imaging.prepare import decode_picture
from inference_api.testing.images.uploads import animated, png_chunk, png_declaring

SIGNATURE = b"\x89PNG\r\n\x1a\n"



def limits(**overrides) -> DecodeLimits:
    return DecodeLimits.from_settings(**overrides)

def saved(image: Image.Image, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", **options)
    return buffer.getvalue()


def picture(mode: str) -> Image.Image:
    """A noisy 300x200 picture in `mode` (every PNG filter gets used)."""
    noise = Image.merge("RGB", [Image.effect_noise((300, 200), 60) for _ in range(3)])
    if mode == "I;16":
        return Image.fromarray(np.asarray(noise.convert("L")).astype(np.uint16) * 257)
    return noise.convert(mode)


def stored(data: bytes) -> inflate.PartsReader | None:
    return inflate.stored_png(data, png.inspect(data, limits()), limits())


def pixels_of(source) -> bytes:
    with Image.open(source if hasattr(source, "read") else io.BytesIO(source)) as image:
        return image.tobytes()


def image_stream(data: bytes) -> bytes:
    structure = png.inspect(data, limits())
    return b"".join(data[start:end] for start, end in structure.image_data_payloads)


def with_idat(data: bytes, stream: bytes) -> bytes:
    """`data`'s chunks with its image data replaced by one IDAT of `stream`."""
    structure = png.inspect(data, limits())
    first, after = structure.image_data
    return data[:first] + png_chunk(b"IDAT", stream) + data[after:]


@pytest.mark.parametrize(
    ("mode", "options"),
    [("RGB", {}), ("RGBA", {}), ("L", {}), ("LA", {}), ("P", {}), ("P", {"transparency": 3}),
     ("1", {}), ("I;16", {}), ("RGB", {"bits": 4})],
)  # fmt: skip
def test_pillow_reads_the_same_pixels_from_the_stored_rows(mode, options):
    data = saved(picture(mode), **options)
    reader = stored(data)
    assert reader is not None
    assert pixels_of(reader) == pixels_of(data)


def test_the_rows_pillow_reads_are_stored_not_deflated():
    stream = image_stream(stored(saved(picture("RGB"))).read())
    assert stream[:2] == inflate.ZLIB_HEADER
    assert stream[2] & 0b110 == 0  # BTYPE 00: a stored block
    assert len(stream) > 300 * 200 * 3


def test_the_stored_stream_is_a_whole_zlib_stream_with_its_checks():
    # Pillow stops at the last row, but the stream must stand on its own (Adler-32, CRC).
    data = saved(picture("RGBA"))
    out = stored(data).read()
    stream = image_stream(out)
    assert zlib.decompress(stream) == zlib.decompress(image_stream(data))
    png.inspect(out, limits())  # every CRC checked


def test_several_idat_chunks_are_inflated_as_one_stream():
    data = saved(picture("RGB"))
    stream = image_stream(data)
    pieces = [stream[i : i + 1000] for i in range(0, len(stream), 1000)]
    structure = png.inspect(data, limits())
    first, after = structure.image_data
    split = data[:first] + b"".join(png_chunk(b"IDAT", p) for p in pieces) + data[after:]
    assert len(png.inspect(split, limits()).image_data_payloads) == len(pieces)
    assert pixels_of(stored(split)) == pixels_of(data)


def test_inflating_stops_at_the_rows_the_header_declares():
    data = png_declaring(100, 100, zero_bytes=20_000_000)  # 10,100 bytes of rows, 20 MB inflated
    reader = stored(data)
    assert len(reader.read()) < len(data) + 11_000
    assert decode_picture(data, "PNG", limits(), 100).size == (100, 100)


def test_a_stream_shorter_than_the_rows_is_left_to_pillow_and_refused():
    data = saved(picture("RGB"))
    short = with_idat(data, zlib.compress(zlib.decompress(image_stream(data))[:-1000]))
    assert stored(short) is None
    with pytest.raises(errors.InvalidImage):
        decode_picture(short, "PNG", limits(), 8)


@pytest.mark.parametrize(
    "stream",
    [b"not deflate at all", b"\x78\xbb" + bytes(30), b"\x78\x01\xff\xff\xff\xff"],
    ids=["not-zlib", "preset-dictionary", "bad-deflate"],
)
def test_a_stream_that_does_not_inflate_is_left_to_pillow_and_refused(stream):
    bad = with_idat(saved(picture("L")), stream)
    assert stored(bad) is None
    with pytest.raises(errors.InvalidImage):
        decode_picture(bad, "PNG", limits(), 8)


def test_interlaced_animated_and_scattered_pngs_keep_pillows_own_inflate():
    # One pixel: Adam7's first pass is the whole image (Pillow writes no interlaced PNG).
    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 1)
    interlaced = (
        SIGNATURE
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
        + png_chunk(b"IEND", b"")
    )
    assert decode_picture(interlaced, "PNG", limits(), 1).getpixel((0, 0)) == (255, 0, 0)
    data = saved(picture("RGB"))
    structure = png.inspect(data, limits())
    first, after = structure.image_data
    (start, end), *_ = structure.image_data_payloads
    middle = start + (end - start) // 2
    scattered = (
        data[:first]
        + png_chunk(b"IDAT", data[start:middle])
        + png_chunk(b"tEXt", b"a\x00b")
        + png_chunk(b"IDAT", data[middle:end])
        + data[after:]
    )
    for case in (interlaced, animated("PNG", [(255, 0, 0), (0, 0, 255)]), scattered):
        assert stored(case) is None


def test_rows_past_the_cap_keep_pillows_own_inflate():
    header = struct.pack(">IIBBBBB", 5000, 4000, 8, 6, 0, 0, 0)  # 80 MB of RGBA rows
    data = SIGNATURE + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", zlib.compress(b"\0"))
    structure = png.inspect(data + png_chunk(b"IEND", b""), limits())
    assert inflate.rows_bytes(structure) > inflate.MAX_ROWS_BYTES
    assert not inflate.applies(structure, limits())


def test_rows_past_an_eighth_of_the_memory_budget_keep_pillows_own_inflate():
    data = saved(picture("RGB"))  # 180,200 bytes of rows
    structure = png.inspect(data, limits())
    assert inflate.applies(structure, limits(memory_bytes=8 * 180_200))
    assert not inflate.applies(structure, limits(memory_bytes=8 * 180_000))


def test_the_reader_reads_and_seeks_like_a_file():
    reader = inflate.PartsReader([b"abc", memoryview(b"defg"), b"", b"hi"])
    assert reader.read(2) == b"ab"
    assert reader.read(4) == b"cdef"
    assert reader.tell() == 6
    reader.seek(-3, io.SEEK_END)
    assert reader.read() == b"ghi"
    reader.seek(1)
    assert reader.read(100) == b"bcdefghi"
    assert reader.read(1) == b""
