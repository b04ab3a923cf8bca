"""A PNG's image data inflated by ISA-L, handed to Pillow in stored deflate blocks.

Pillow inflates a PNG's IDAT stream with the zlib it is linked against (the
system's 1.2.13): 17 of the 23 ms that loading a 2 MP RGB photograph took.
ISA-L's inflate (the `isal` package) does the same in half the time, but
Pillow cannot be given another inflater. So the stream is inflated here and
Pillow opens the same PNG with its image data in stored (uncompressed)
deflate blocks: it still reads every chunk and does the unfiltering, the
modes, the palette and the transparency itself, and its inflate of stored
blocks is a copy. The pixels are the same bytes.

Only for what the walk has seen to be a plain still PNG (not interlaced, not
animated, the IDATs in one run) whose rows take at most MAX_ROWS_BYTES and
an eighth of the decode's memory budget: the rows are held while Pillow
decodes, which its streaming inflate does not need, so larger images keep
Pillow's own inflate (the 8000x8000 ones, whose cost sets the budgets). Inflating
stops at the rows the header declares, so a stream that would inflate
further costs nothing more; one that ends short or does not inflate is left
to Pillow as it is, whose refusal is then the same as before.
"""

import bisect
import io
import itertools
import struct

from isal import isal_zlib

from .limits import DecodeLimits
from .png import PngStructure

# 64 MiB of rows: 16 MP of RGBA, 22 MP of RGB; with Pillow's frame, twice that.
MAX_ROWS_BYTES = 64 * 1024 * 1024
# ... and at most this share of the decode's memory budget (DECODE_MEMORY_BYTES).
MAX_ROWS_SHARE = 8
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
STORED_BLOCK = 0xFFFF
# A zlib header (deflate, 32 KiB window, no dictionary) whose check bits are right.
ZLIB_HEADER = b"\x78\x01"


def rows_bytes(structure: PngStructure) -> int:
    """What a non-interlaced PNG's rows inflate to: a filter byte and the samples, per row."""
    bits = structure.width * structure.bit_depth * CHANNELS[structure.color_type]
    return structure.height * (1 + (bits + 7) // 8)


def applies(structure: PngStructure, limits: DecodeLimits) -> bool:
    """Whether `stored_png` may be used: a plain still PNG of bounded size."""
    return (
        structure.image_data is not None
        and bool(structure.image_data_payloads)
        and not structure.interlaced
        and not structure.animated
        and rows_bytes(structure) <= min(MAX_ROWS_BYTES, limits.memory_bytes // MAX_ROWS_SHARE)
    )


def stored_png(
    data: bytes, structure: PngStructure, limits: DecodeLimits
) -> "PartsReader | None":
    """A file that reads as `data` with its image data in stored blocks; None if not applicable.

    None too when the stream does not inflate to the declared rows (short,
    or not deflate): Pillow then decodes the original and refuses it itself.
    The rows are not joined into one buffer: the file reads them in place.
    """
    if not applies(structure, limits):
        return None
    pieces = _inflated(memoryview(data), structure.image_data_payloads, rows_bytes(structure))
    if pieces is None:
        return None
    stream = _stored(pieces)
    crc = isal_zlib.crc32(b"IDAT")
    for part in stream:
        crc = isal_zlib.crc32(part, crc)
    first, after = structure.image_data
    length = sum(len(part) for part in stream)
    view = memoryview(data)
    head = [view[:first], struct.pack(">I", length), b"IDAT"]
    return PartsReader([*head, *stream, struct.pack(">I", crc), view[after:]])


class PartsReader(io.RawIOBase):
    """A read-only, seekable file over byte parts in order, read in place (no join)."""

    def __init__(self, parts: list[bytes | memoryview]) -> None:
        super().__init__()
        self.parts = [memoryview(part) for part in parts]
        self.ends = list(itertools.accumulate(len(part) for part in self.parts))
        self.position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.ends[-1]}[whence]
        self.position = max(0, base + offset)
        return self.position

    def read(self, size: int | None = -1) -> bytes:
        total = self.ends[-1]
        end = total if size is None or size < 0 else min(total, self.position + size)
        taken = []
        index = bisect.bisect_right(self.ends, self.position)
        while self.position < end:
            part_start = self.ends[index] - len(self.parts[index])
            piece = self.parts[index][self.position - part_start : end - part_start]
            taken.append(piece)
            self.position += len(piece)
            index += 1
        return b"".join(taken)

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _inflated(
    view: memoryview, payloads: tuple[tuple[int, int], ...], size: int
) -> list[bytes] | None:
    """The first `size` bytes the IDAT payloads inflate to, in pieces; None if fewer or invalid.

    The zlib header is checked here and the deflate data inflated raw: the
    Adler-32 of the rows is not computed twice (`_stored` computes it, and
    neither Pillow nor this reads the stream's own past the last row).
    """
    (start, end), *others = payloads
    if end - start < 2 or not _zlib_header(view[start : start + 2]):
        return None
    inflater = isal_zlib.decompressobj(-isal_zlib.MAX_WBITS)
    pieces, left = [], size
    try:
        for first, last in [(start + 2, end), *others]:
            piece = inflater.decompress(view[first:last], left)
            pieces.append(piece)
            left -= len(piece)
            if not left:
                return pieces
    except isal_zlib.error:
        return None
    return None


def _zlib_header(header: memoryview) -> bool:
    """A header zlib would inflate: deflate, a window of 32 KiB at most, no dictionary."""
    method, flags = header[0], header[1]
    deflate = method & 0x0F == 8 and method >> 4 <= 7
    return deflate and not flags & 0x20 and (method << 8 | flags) % 31 == 0


def _stored(pieces: list[bytes]) -> list[bytes | memoryview]:
    """A zlib stream of stored blocks holding `pieces` in order (no copy of them)."""
    parts: list[bytes | memoryview] = [ZLIB_HEADER]
    adler = 1
    blocks = [
        memoryview(piece)[start : start + STORED_BLOCK]
        for piece in pieces
        for start in range(0, len(piece), STORED_BLOCK)
    ]
    for index, block in enumerate(blocks):
        final = index == len(blocks) - 1
        parts += [struct.pack("<BHH", final, len(block), STORED_BLOCK ^ len(block)), block]
        adler = isal_zlib.adler32(block, adler)
    parts.append(struct.pack(">I", adler))
    return parts

