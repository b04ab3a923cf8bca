"""Reading a JPEG's marker stream without decoding it.

A progressive JPEG can carry thousands of scans; each one makes the decoder
walk every block of the image again, so a small file can burn seconds of
CPU without coming near any byte or pixel cap. Counting the SOS markers is
cheap, so the scan count is checked before Pillow ever decodes the file.

Nothing in the stream is trusted: segment lengths may point past the end,
junk may sit between markers, entropy-coded data may hold anything. The
walk never fails on such a stream: it counts what it can reach and leaves
judging the rest to the decoder, which will refuse a truncated file anyway.
"""

import re

SOI = b"\xff\xd8"
EOI = 0xD9
SOS = 0xDA
# Markers that stand alone, without a length field: TEM and RST0-RST7.
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})
# A marker: 0xFF then a byte that is neither stuffing (0x00), a restart
# marker (0xD0-0xD7, which only ever appear inside entropy-coded data) nor
# another 0xFF (fill byte). Searching with this skips entropy-coded data and
# junk in C, so a 10 MB file of 0xFF00 pairs costs one regex pass.
_MARKER = re.compile(rb"\xff[\x01-\xcf\xd8-\xfe]")


class MalformedJpeg(ValueError):
    """The data does not start with a JPEG's SOI marker."""


class TooManyScans(ValueError):
    """The JPEG has more scans than the limit it was checked against."""


def count_scans(data: bytes, *, limit: int) -> int:
    """Count the scans (SOS markers) of the first image in `data`.

    Stops at the first EOI, so what follows it (an MPO's second picture, an
    Ultra HDR gain map) is not counted. Raises `TooManyScans` as soon as the
    count passes `limit`, and `MalformedJpeg` when `data` has no SOI.
    Segment payloads are skipped by their length, so an EXIF thumbnail (a
    JPEG inside an APP1 segment) does not add its own scans.
    """
    if not data.startswith(SOI):
        raise MalformedJpeg("no SOI marker")
    scans = 0
    position = len(SOI)
    while (match := _MARKER.search(data, position)) is not None:
        marker = data[match.start() + 1]
        position = match.end()
        if marker == EOI:
            break
        if marker in _STANDALONE:
            continue
        position = _skip_segment(data, position)
        if marker == SOS:
            scans += 1
            if scans > limit:
                raise TooManyScans(f"more than {limit} scans")
    return scans


def _skip_segment(data: bytes, position: int) -> int:
    """The offset just past a segment whose 2-byte length field starts at `position`.

    A length that is impossible (below 2, or past the end) ends the walk: the
    decoder cannot get further than that either.
    """
    length = int.from_bytes(data[position : position + 2], "big")
    end = position + length
    if length < 2 or end > len(data):
        return len(data)
    return end
