"""Images the upload tests make themselves: honest ones, hostile ones, non-images."""

import io
import struct
import zlib

from PIL import Image

CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}

# Other formats' bytes, to be sent under an image type they are not.
NOT_IMAGES = {
    "html": b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>\n",
    "svg": (
        b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
        b'<script>alert(1)</script><rect width="10" height="10"/></svg>\n'
    ),
    "pdf": (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
    ),
}


def encode(fmt: str, size: tuple[int, int] = (64, 48), mode: str = "RGB", **options) -> bytes:
    """A real image of `size` in `fmt`, with a gradient so it is not trivially compressible."""
    image = Image.linear_gradient("L").resize(size).convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def gif_bytes() -> bytes:
    return encode("GIF", mode="P")


def tiff_bytes() -> bytes:
    return encode("TIFF")


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    """One PNG chunk: length, type, payload and CRC."""
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def png_declaring(width: int, height: int, zero_bytes: int = 50_000_000) -> bytes:
    """A grayscale PNG whose header says width x height, with `zero_bytes` of zeros deflated.

    Deflate packs 50 MB of zeros into ~50 KB: the shape of a real decompression bomb.
    """
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    compressor = zlib.compressobj(9)
    block = bytes(1024 * 1024)
    idat = b"".join(compressor.compress(block) for _ in range(zero_bytes // len(block)))
    idat += compressor.flush()
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def jpeg_segments(data: bytes) -> tuple[bytes, list[bytes]]:
    """Split a progressive JPEG into (everything before the first SOS, [each scan])."""
    first = data.index(b"\xff\xda")
    header, rest = data[:first], data[first:-2]
    scans = [b"\xff\xda" + part for part in rest.split(b"\xff\xda") if part]
    return header, scans


def jpeg_with_scans(count: int, size: tuple[int, int] = (1024, 1024)) -> bytes:
    """A small progressive JPEG of a flat picture whose last scan is repeated to `count` scans.

    A flat picture's refinement scans are a few end-of-band runs: each repeat
    costs ~12 bytes of file but makes the decoder walk every block again
    (5000 scans of 1024x1024 is ~70 KB and seconds of CPU to decode).
    """
    buffer = io.BytesIO()
    Image.new("RGB", size, (120, 130, 140)).save(buffer, "JPEG", progressive=True, quality=90)
    header, scans = jpeg_segments(buffer.getvalue())
    repeated = scans + [scans[-1]] * (count - len(scans))
    return header + b"".join(repeated) + b"\xff\xd9"


def animated(
    fmt: str, colours: list[tuple[int, int, int]], size: tuple[int, int] = (16, 16)
) -> bytes:
    """An animated PNG or WebP with one flat frame per colour."""
    frames = [Image.new("RGB", size, colour) for colour in colours]
    buffer = io.BytesIO()
    options = {"lossless": True} if fmt == "WEBP" else {}
    frames[0].save(buffer, fmt, save_all=True, append_images=frames[1:], duration=100, **options)
    return buffer.getvalue()


def with_exif_orientation(fmt: str, size: tuple[int, int], orientation: int) -> bytes:
    """An image of `size` whose EXIF says it must be turned (orientation 1-8)."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    image = Image.new("RGB", size, (200, 30, 30))
    image.paste((30, 30, 200), (0, 0, size[0] // 2, size[1]))
    buffer = io.BytesIO()
    image.save(buffer, fmt, exif=exif.tobytes())
    return buffer.getvalue()
