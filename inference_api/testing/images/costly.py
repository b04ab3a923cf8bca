"""Uploads built to cost a decoder as much as possible while staying inside the caps.

Each builder makes its input from code (nothing committed): the cases found
against Pillow's parsers and libjpeg/libpng/libwebp (see issue "Bounded cost
per upload"), and the largest legitimate images of every mode, which must
decode within the budget. `COSTLY` maps a name to (builder, content type,
what must happen: "refused" or "accepted"). Images are built once per
process (they take a moment at 8000x8000).
"""

import functools
import io
import struct
import zlib

from PIL import Image

from .uploads import jpeg_segments, jpeg_with_scans, png_chunk

MIB = 1024 * 1024
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_header(width: int, height: int, bit_depth: int = 8, color_type: int = 0) -> bytes:
    return png_chunk(
        b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    )


def tiny_idat() -> bytes:
    """The IDAT of a 1x1 8-bit grey PNG: filter byte and one sample."""
    return png_chunk(b"IDAT", zlib.compress(b"\x00\x80"))


def png_with_iccp_chunks(count: int) -> bytes:
    """A 1x1 PNG carrying `count` iCCP chunks, each ~1 KB inflating to 1 MiB."""
    profile = b"icc\x00\x00" + zlib.compress(bytes(MIB), 9)
    chunk = png_chunk(b"iCCP", profile)
    return PNG_SIGNATURE + png_header(1, 1) + chunk * count + tiny_idat() + png_chunk(b"IEND", b"")


def png_with_private_chunks(count: int) -> bytes:
    """A 1x1 PNG with `count` empty private ancillary chunks before its pixels."""
    chunk = png_chunk(b"prIv", b"")
    return PNG_SIGNATURE + png_header(1, 1) + chunk * count + tiny_idat() + png_chunk(b"IEND", b"")


def png_with_text_chunks(count: int) -> bytes:
    """A 1x1 PNG with `count` small compressed text chunks (Pillow handles each in Python)."""
    chunk = png_chunk(b"zTXt", b"k\x00\x00" + zlib.compress(bytes(200), 9))
    return PNG_SIGNATURE + png_header(1, 1) + chunk * count + tiny_idat() + png_chunk(b"IEND", b"")


def png_with_empty_idats(count: int) -> bytes:
    """A 1x1 PNG whose pixels are followed by `count` empty IDAT chunks."""
    empty = png_chunk(b"IDAT", b"")
    return PNG_SIGNATURE + png_header(1, 1) + tiny_idat() + empty * count + png_chunk(b"IEND", b"")


def flat_png(
    width: int, height: int, *, bit_depth: int = 8, color_type: int = 0, palette: bytes = b""
) -> bytes:
    """A width x height PNG of one flat colour, written row by row (fast at 8000x8000)."""
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[color_type]
    row = b"\x00" + bytes(width * channels * bit_depth // 8)
    if color_type in (4, 6):  # opaque alpha, so the picture is not empty
        sample = bit_depth // 8
        pixel = bytes(sample * (channels - 1)) + b"\xff" * sample
        row = b"\x00" + pixel * width
    compressor = zlib.compressobj(6)
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    chunks = png_header(width, height, bit_depth, color_type)
    if palette:
        chunks += png_chunk(b"PLTE", palette)
    return PNG_SIGNATURE + chunks + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def flat_apng(width: int, height: int) -> bytes:
    """A two-frame APNG of flat RGBA frames, written chunk by chunk (fast at 8000x8000)."""
    still = flat_png(width, height, color_type=RGBA)
    idat_at = still.index(b"IDAT") - 4
    length = struct.unpack(">I", still[idat_at : idat_at + 4])[0]
    pixels = still[idat_at + 8 : idat_at + 8 + length]

    def frame_control(sequence: int) -> bytes:
        fields = struct.pack(">IIIIIHHBB", sequence, width, height, 0, 0, 1, 10, 0, 0)
        return png_chunk(b"fcTL", fields)

    return (
        PNG_SIGNATURE
        + png_header(width, height, 8, RGBA)
        + png_chunk(b"acTL", struct.pack(">II", 2, 0))
        + frame_control(0)
        + png_chunk(b"IDAT", pixels)
        + frame_control(1)
        + png_chunk(b"fdAT", struct.pack(">I", 2) + pixels)
        + png_chunk(b"IEND", b"")
    )


def apng(width: int, height: int, frames: int = 2) -> bytes:
    """An animated PNG of `frames` flat RGBA frames."""
    pictures = [
        Image.new("RGBA", (width, height), (i * 40 % 256, 90, 160, 255)) for i in range(frames)
    ]
    buffer = io.BytesIO()
    pictures[0].save(buffer, "PNG", save_all=True, append_images=pictures[1:], compress_level=1)
    return buffer.getvalue()


def jpeg_with_fill(fill: int) -> bytes:
    """A 64x48 JPEG whose entropy-coded data is followed by `fill` 0xFF bytes before EOI."""
    picture = Image.linear_gradient("L").resize((64, 48)).convert("RGB")
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG")
    data = buffer.getvalue()
    return data[:-2] + b"\xff" * fill + data[-2:]


def jpeg_with_comments(count: int) -> bytes:
    """A 64x48 JPEG with `count` empty COM segments after SOI."""
    picture = Image.linear_gradient("L").resize((64, 48)).convert("RGB")
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG")
    data = buffer.getvalue()
    return data[:2] + b"\xff\xfe\x00\x02" * count + data[2:]


def jpeg_with_many_components(count: int = 255, scans: int = 64) -> bytes:
    """A progressive frame of `count` components, each of `scans` scans naming them all."""
    components = b"".join(bytes([n, 0x11, 0]) for n in range(count))
    sof = b"\xff\xc2" + struct.pack(">HBHHB", 8 + 3 * count, 8, 1, 1, count) + components
    payload = bytes([count]) + b"".join(bytes([n, 0]) for n in range(count)) + b"\x00\x3f\x00"
    sos = b"\xff\xda" + struct.pack(">H", len(payload) + 2) + payload + bytes(4)
    return b"\xff\xd8" + sof + sos * scans + b"\xff\xd9"


def arithmetic_jpeg() -> bytes:
    """A progressive JPEG relabelled as arithmetic-coded (SOF10): refused from its markers."""
    data = progressive_jpeg((64, 64))
    return data.replace(b"\xff\xc2", b"\xff\xca", 1)


def progressive_jpeg(size: tuple[int, int], mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, (120, 130, 140, 0)[: len(mode)] if mode != "L" else 120).save(
        buffer, "JPEG", progressive=True, quality=90
    )
    return buffer.getvalue()


def cmyk_progressive_with_scans(count: int, size: tuple[int, int]) -> bytes:
    """A progressive CMYK JPEG whose last scan is repeated to `count` scans."""
    header, scans = jpeg_segments(progressive_jpeg(size, "CMYK"))
    repeated = scans + [scans[-1]] * (count - len(scans))
    return header + b"".join(repeated) + b"\xff\xd9"


def flat_lossless_webp(width: int, height: int) -> bytes:
    """A ~38-byte lossless WebP of one colour declaring width x height.

    A flat picture's lossless bitstream codes every pixel in zero bits, so
    the header of an 8x8 one can say any size and stays valid.
    """
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 200, 30)).save(buffer, "WEBP", lossless=True)
    data = bytearray(buffer.getvalue())
    at = data.index(b"VP8L") + 9
    bits = int.from_bytes(data[at : at + 4], "little")
    bits = (bits & ~((1 << 28) - 1)) | (width - 1) | ((height - 1) << 14)
    data[at : at + 4] = bits.to_bytes(4, "little")
    return bytes(data)


def flat_animated_webp(width: int, height: int) -> bytes:
    """A two-frame animated lossless WebP of flat frames declaring width x height.

    Pillow's own 16x16 animation, with the canvas, each frame's size and each
    frame's lossless header patched: flat frames code every pixel in zero bits.
    """
    data = bytearray(animated_webp(16, 16))
    at = data.index(b"VP8X") + 8
    data[at + 4 : at + 10] = (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    position = 0
    while (position := data.find(b"ANMF", position + 1)) != -1:
        frame = position + 8
        data[frame + 6 : frame + 12] = (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(
            3, "little"
        )
        header = data.index(b"VP8L", frame) + 9
        bits = int.from_bytes(data[header : header + 4], "little")
        bits = (bits & ~((1 << 28) - 1)) | (width - 1) | ((height - 1) << 14)
        data[header : header + 4] = bits.to_bytes(4, "little")
    return bytes(data)


def animated_webp(width: int, height: int, frames: int = 2) -> bytes:
    pictures = [
        Image.new("RGBA", (width, height), (i * 40 % 256, 90, 160, 255)) for i in range(frames)
    ]
    buffer = io.BytesIO()
    pictures[0].save(
        buffer, "WEBP", save_all=True, append_images=pictures[1:], lossless=True, method=0
    )
    return buffer.getvalue()


def webp_with_chunks(count: int) -> bytes:
    """A small lossy WebP (VP8X) followed by `count` unknown chunks."""
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (1, 2, 3)).save(buffer, "WEBP", exif=b"Exif\x00\x00")
    data = buffer.getvalue()
    extra = b"JUNK\x00\x00\x00\x00" * count
    body = data[12:] + extra
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body


GREY, RGB, PALETTE, GREY_ALPHA, RGBA = 0, 2, 3, 4, 6
SIDE = 8000

COSTLY = {
    # Found by reading Pillow's plugins: refused from their structure, before any decoder.
    "png_9900_iccp_chunks": (lambda: png_with_iccp_chunks(9_900), "image/png", "refused"),
    "png_1mib_of_iccp_chunks": (lambda: png_with_iccp_chunks(1_000), "image/png", "refused"),
    "png_870k_private_chunks": (lambda: png_with_private_chunks(870_000), "image/png", "refused"),
    "png_870k_empty_idats": (lambda: png_with_empty_idats(870_000), "image/png", "refused"),
    "jpeg_10mb_fill_bytes": (lambda: jpeg_with_fill(10_000_000), "image/jpeg", "refused"),
    "jpeg_2_6m_comments": (lambda: jpeg_with_comments(2_600_000), "image/jpeg", "refused"),
    "png_20000_text_chunks": (lambda: png_with_text_chunks(20_000), "image/png", "refused"),
    "jpeg_arithmetic_coded": (arithmetic_jpeg, "image/jpeg", "refused"),
    "jpeg_255_components_64_scans": (jpeg_with_many_components, "image/jpeg", "refused"),
    "jpeg_huffman_64_scans_8000": (
        lambda: jpeg_with_scans(64, (SIDE, SIDE)),
        "image/jpeg",
        "refused",
    ),
    "jpeg_cmyk_64_scans_8000": (
        lambda: cmyk_progressive_with_scans(64, (SIDE, SIDE)),
        "image/jpeg",
        "refused",
    ),
    "webp_5000_chunks": (lambda: webp_with_chunks(5_000), "image/webp", "refused"),
    # The largest legitimate pictures of each mode: decoded within the budget.
    "png_grey16_8000": (lambda: flat_png(SIDE, SIDE, bit_depth=16), "image/png", "accepted"),
    "png_rgba_8000": (lambda: flat_png(SIDE, SIDE, color_type=RGBA), "image/png", "accepted"),
    "png_rgba16_8000": (
        lambda: flat_png(SIDE, SIDE, bit_depth=16, color_type=RGBA),
        "image/png",
        "accepted",
    ),
    "png_grey_alpha16_8000": (
        lambda: flat_png(SIDE, SIDE, bit_depth=16, color_type=GREY_ALPHA),
        "image/png",
        "accepted",
    ),
    "png_palette_8000": (
        lambda: flat_png(SIDE, SIDE, color_type=PALETTE, palette=bytes(range(48))),
        "image/png",
        "accepted",
    ),
    "apng_8000": (lambda: flat_apng(SIDE, SIDE), "image/png", "accepted"),
    "jpeg_cmyk_progressive_8000": (
        lambda: progressive_jpeg((SIDE, SIDE), "CMYK"),
        "image/jpeg",
        "accepted",
    ),
    "jpeg_progressive_8000": (lambda: progressive_jpeg((SIDE, SIDE)), "image/jpeg", "accepted"),
    "webp_lossless_38_bytes_8000": (
        lambda: flat_lossless_webp(SIDE, SIDE),
        "image/webp",
        "accepted",
    ),
    "webp_animated_8000": (lambda: flat_animated_webp(SIDE, SIDE), "image/webp", "accepted"),
}


@functools.cache
def build(name: str) -> bytes:
    """The bytes of case `name` (built once per process)."""
    return COSTLY[name][0]()
