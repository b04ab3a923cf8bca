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
(inference_api.sandbox) bounds what is left. The walk also notes where the
image data lies, for `imaging.inflate`. CRCs are ISA-L's (the `isal`
package: the same CRC-32 as zlib's, ten times faster).
"""

import struct
import zlib
from dataclasses import dataclass

from isal import isal_zlib

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
    interlaced: bool = False
    animated: bool = False
    # Where the image data is: the offsets of the first IDAT chunk and past the
    # last, and each IDAT's payload; empty when the IDATs are not one run.
    image_data: tuple[int, int] | None = None
    image_data_payloads: tuple[tuple[int, int], ...] = ()


def inspect(data: bytes, limits: DecodeLimits) -> PngStructure:
    """Walk every chunk of `data` up to IEND against `limits`.

    Raises errors.InvalidImage for a bad signature, header, CRC or a stream
    that ends before IEND, and errors.TooCostly past any of the caps.
    """
    if not data.startswith(SIGNATURE):
        raise errors.InvalidImage()
    walk = _Walk(limits)
    view = memoryview(data)
    position = len(SIGNATURE)
    while True:
        kind, start, end = _chunk(view, position)
        walk.take(kind, view[start:end], position, end + 4)
        position = end + 4
        if kind == b"IEND":
            return walk.result()


def _chunk(view: memoryview, position: int) -> tuple[bytes, int, int]:
    """The type of the chunk at `position` (CRC checked) and where its payload starts and ends."""
    if position + 12 > len(view):
        raise errors.InvalidImage()
    length, kind = struct.unpack_from(">I4s", view, position)
    end = position + 8 + length
    if length > 0x7FFFFFFF or end + 4 > len(view):
        raise errors.InvalidImage()
    (crc,) = struct.unpack_from(">I", view, end)
    if isal_zlib.crc32(view[position + 4 : end]) != crc:
        raise errors.InvalidImage()
    return kind, position + 8, end


class _Walk:
    def __init__(self, limits: DecodeLimits) -> None:
        self.limits = limits
        self.header: tuple[int, int, int, int] | None = None
        self.chunks = self.frames = self.metadata = self.inflated = self.metadata_chunks = 0
        self.iccp = False
        self.interlaced = self.animated = False
        self.data_start = self.data_end = 0
        self.payloads: list[tuple[int, int]] = []
        self.scattered = False

    def take(self, kind: bytes, payload: memoryview, start: int, end: int) -> None:
        """One chunk: its type, payload, and where it starts and ends in the file."""
        self.chunks += 1
        if self.chunks > self.limits.max_png_chunks:
            raise errors.TooCostly("The PNG has too many chunks.")
        if self.header is None:
            self._header(kind, payload)
        elif kind == b"IDAT":
            self._image_data(start, end, len(payload))
        elif kind == b"acTL":
            self.animated = True
        elif kind == b"fcTL":
            self.frames += 1
            if self.frames > self.limits.max_png_frames:
                raise errors.TooCostly("The PNG has too many frames.")
        elif kind not in PIXEL_CHUNKS:
            self._metadata(kind, bytes(payload))

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
            interlaced=self.interlaced,
            animated=self.animated,
            image_data=None if self.scattered else (self.data_start, self.data_end),
            image_data_payloads=() if self.scattered else tuple(self.payloads),
        )

    def _image_data(self, start: int, end: int, length: int) -> None:
        if self.payloads and self.data_end != start:
            self.scattered = True  # another chunk between IDATs: left to Pillow
        if not self.payloads:
            self.data_start = start
        self.payloads.append((start + 8, start + 8 + length))
        self.data_end = end

    def _header(self, kind: bytes, payload: bytes) -> None:
        if kind != b"IHDR" or len(payload) != 13:
            raise errors.InvalidImage()
        width, height, bit_depth, color_type = struct.unpack_from(">IIBB", payload)
        if not width or not height or bit_depth not in BIT_DEPTHS.get(color_type, ()):
            raise errors.InvalidImage()
        self.header = (width, height, bit_depth, color_type)
        self.interlaced = payload[12] != 0

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
