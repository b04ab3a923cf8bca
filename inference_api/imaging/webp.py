"""Walking a WebP's RIFF chunks without decoding it: canvas, frames, metadata.

Pillow opens every WebP through libwebp's animation decoder, which allocates
two full canvases before the first pixel and hands each frame back as a
Python bytes copy: a 38-byte lossless file declaring 8000x8000 costs
gigabytes. This walk reads the canvas from the header and counts the chunks
(frames included) in a bounded loop, so the header caps apply before
anything is allocated; `libwebp.decode_first_frame` then decodes only the
first frame, scaled down inside libwebp.
"""

import struct
from dataclasses import dataclass

from .. import errors
from .limits import DecodeLimits

HEADER = 12  # "RIFF", size, "WEBP"


@dataclass(frozen=True)
class WebpStructure:
    """The canvas, whether it is animated, and the EXIF chunk (for orientation)."""

    width: int
    height: int
    animated: bool
    frames: int
    chunks: int
    exif: bytes


def inspect(data: bytes, limits: DecodeLimits) -> WebpStructure:
    """Walk the RIFF chunks of `data` against `limits`.

    Raises errors.InvalidImage for a container that is not a well-formed
    WebP, and errors.TooCostly past `max_webp_chunks`.
    """
    if len(data) < HEADER + 8 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise errors.InvalidImage()
    end = 8 + int.from_bytes(data[4:8], "little")
    if end > len(data):
        raise errors.InvalidImage()
    chunks = list(_chunks(data, end, limits.max_webp_chunks))
    first_kind, first = chunks[0]
    width, height = _canvas(first_kind, first)
    frames = sum(1 for kind, _ in chunks if kind == b"ANMF")
    animated = first_kind == b"VP8X" and bool(first[0] & 0x02)
    exif = next((payload for kind, payload in chunks if kind == b"EXIF"), b"")
    return WebpStructure(width, height, animated, max(1, frames), len(chunks), exif)


def _chunks(data: bytes, end: int, limit: int):
    position = HEADER
    count = 0
    while position + 8 <= end:
        kind, size = struct.unpack_from("<4sI", data, position)
        payload_end = position + 8 + size
        if payload_end > end:
            raise errors.InvalidImage()
        count += 1
        if count > limit:
            raise errors.TooCostly("The WebP has too many chunks.")
        yield kind, data[position + 8 : payload_end]
        position = payload_end + (size & 1)
    if count == 0:
        raise errors.InvalidImage()


def _canvas(kind: bytes, payload: bytes) -> tuple[int, int]:
    """(width, height) from the first chunk, as libwebp reads them."""
    if kind == b"VP8X" and len(payload) >= 10:
        width = int.from_bytes(payload[4:7], "little") + 1
        height = int.from_bytes(payload[7:10], "little") + 1
        return width, height
    if kind == b"VP8 " and len(payload) >= 10 and payload[3:6] == b"\x9d\x01\x2a":
        width, height = struct.unpack_from("<HH", payload, 6)
        return width & 0x3FFF, height & 0x3FFF
    if kind == b"VP8L" and len(payload) >= 5 and payload[0] == 0x2F:
        bits = int.from_bytes(payload[1:5], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    raise errors.InvalidImage()
