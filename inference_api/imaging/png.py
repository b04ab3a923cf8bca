"""Walking a PNG's chunks without decoding it: CRCs, counts and metadata, bounded.

Pillow inflates every iCCP chunk it meets (up to 1 MiB each, any number of
them), handles each chunk in Python (hundreds of thousands of empty or
private chunks cost seconds), and checks CRCs only in `verify()`, which
then needs a second open. This walk does all of it once, in a loop bounded
by `max_png_chunks` (and `max_png_metadata_chunks` for the chunks that are
not pixels, which Pillow handles one by one in Python): every chunk's CRC
(what `verify()` checked), at most one iCCP, a cap on the bytes of chunks
that are not pixels, and a cap on what the compressed metadata (iCCP, zTXt,
compressed iTXt) inflates to, measured
with a bounded inflate. Fast refusals, not the guarantee: the decode budget
(inference_api.sandbox) bounds what is left.
"""

import struct
import zlib
from dataclasses import dataclass

from .. import errors
from .limits import DecodeLimits

SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Chunks that carry the picture; everything else is metadata to the model.
PIXEL_CHUNKS = frozenset({b"IHDR", b"PLTE", b"IDAT", b"IEND", b"fdAT", b"fcTL", b"acTL", b"tRNS"})
BIT_DEPTHS = {0: {1, 2, 4, 8, 16}, 2: {8, 16}, 3: {1, 2, 4, 8}, 4: {8, 16}, 6: {8, 16}}


@dataclass(frozen=True)
class PngStructure:
    """What the chunks say: the header, how many chunks and frames, metadata sizes."""

    width: int
    height: int
    bit_depth: int
    color_type: int
    chunks: int
    frames: int
    metadata_bytes: int
    inflated_metadata_bytes: int


def inspect(data: bytes, limits: DecodeLimits) -> PngStructure:
    """Walk every chunk of `data` up to IEND against `limits`.

    Raises errors.InvalidImage for a bad signature, header, CRC or a stream
    that ends before IEND, and errors.TooCostly past any of the caps.
    """
    if not data.startswith(SIGNATURE):
        raise errors.InvalidImage()
    walk = _Walk(limits)
    position = len(SIGNATURE)
    while True:
        kind, payload, position = _chunk(data, position)
        walk.take(kind, payload)
        if kind == b"IEND":
            return walk.result()


def _chunk(data: bytes, position: int) -> tuple[bytes, bytes, int]:
    """The chunk at `position` (CRC checked) and the offset of the next one."""
    if position + 12 > len(data):
        raise errors.InvalidImage()
    length, kind = struct.unpack_from(">I4s", data, position)
    end = position + 8 + length
    if length > 0x7FFFFFFF or end + 4 > len(data):
        raise errors.InvalidImage()
    (crc,) = struct.unpack_from(">I", data, end)
    if zlib.crc32(data[position + 4 : end]) != crc:
        raise errors.InvalidImage()
    return kind, data[position + 8 : end], end + 4


class _Walk:
    def __init__(self, limits: DecodeLimits) -> None:
        self.limits = limits
        self.header: tuple[int, int, int, int] | None = None
        self.chunks = self.frames = self.metadata = self.inflated = self.metadata_chunks = 0
        self.iccp = False

    def take(self, kind: bytes, payload: bytes) -> None:
        self.chunks += 1
        if self.chunks > self.limits.max_png_chunks:
            raise errors.TooCostly("The PNG has too many chunks.")
        if self.header is None:
            self._header(kind, payload)
        elif kind == b"fcTL":
            self.frames += 1
            if self.frames > self.limits.max_png_frames:
                raise errors.TooCostly("The PNG has too many frames.")
        elif kind not in PIXEL_CHUNKS:
            self._metadata(kind, payload)

    def result(self) -> PngStructure:
        width, height, bit_depth, color_type = self.header
        return PngStructure(
            width=width,
            height=height,
            bit_depth=bit_depth,
            color_type=color_type,
            chunks=self.chunks,
            frames=max(1, self.frames),
            metadata_bytes=self.metadata,
            inflated_metadata_bytes=self.inflated,
        )

    def _header(self, kind: bytes, payload: bytes) -> None:
        if kind != b"IHDR" or len(payload) != 13:
            raise errors.InvalidImage()
        width, height, bit_depth, color_type = struct.unpack_from(">IIBB", payload)
        if not width or not height or bit_depth not in BIT_DEPTHS.get(color_type, ()):
            raise errors.InvalidImage()
        self.header = (width, height, bit_depth, color_type)

    def _metadata(self, kind: bytes, payload: bytes) -> None:
        self.metadata += len(payload)
        self.metadata_chunks += 1
        if self.metadata_chunks > self.limits.max_png_metadata_chunks:
            raise errors.TooCostly("The PNG has too many metadata chunks.")
        if self.metadata > self.limits.max_png_metadata_bytes:
            raise errors.TooCostly("The PNG carries too much metadata.")
        if kind == b"iCCP":
            if self.iccp:
                raise errors.InvalidImage("The PNG has more than one colour profile.")
            self.iccp = True
        compressed = _compressed_part(kind, payload)
        if compressed is not None:
            self.inflated += _inflated_size(
                compressed, self.limits.max_png_inflated_metadata_bytes - self.inflated
            )


def _compressed_part(kind: bytes, payload: bytes) -> bytes | None:
    """The deflated bytes of an iCCP, zTXt or compressed iTXt chunk, else None."""
    if kind in (b"iCCP", b"zTXt"):
        keyword_end = payload.find(b"\x00")
        return payload[keyword_end + 2 :] if keyword_end >= 0 else None
    if kind == b"iTXt":
        keyword_end = payload.find(b"\x00")
        if keyword_end < 0 or payload[keyword_end + 1 : keyword_end + 2] != b"\x01":
            return None
        language_end = payload.find(b"\x00", keyword_end + 3)
        translated_end = payload.find(b"\x00", language_end + 1) if language_end >= 0 else -1
        return payload[translated_end + 1 :] if translated_end >= 0 else None
    return None


def _inflated_size(compressed: bytes, room: int) -> int:
    """How many bytes `compressed` inflates to, refusing past `room` without inflating further."""
    inflater = zlib.decompressobj()
    try:
        size = len(inflater.decompress(compressed, max(room, 0) + 1))
    except zlib.error:
        return 0  # Pillow ignores (or refuses) undecodable metadata itself; nothing was inflated
    if size > room:
        raise errors.TooCostly("The PNG's metadata inflates to more than allowed.")
    return size
