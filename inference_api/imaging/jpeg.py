"""Walking a JPEG's marker stream without decoding it: what the decoder would be made to do.

A small JPEG can make libjpeg (and Pillow's marker loop in front of it) work
far beyond its size: thousands of empty segments, megabytes of 0xFF fill
that the suspending decoder rescans on every read, progressive scans that
each walk every block of a large image again, arithmetic coding whose
decoder is slower still. This walk measures those from the markers alone,
in C-speed searches and a loop bounded by `max_jpeg_markers`, so the costly
ones are refused before a decoder runs. It is a fast refusal, not the
guarantee: the decode budget (inference_api.sandbox) bounds the rest.

Nothing in the stream is trusted: segment lengths may point past the end,
junk may sit between markers, entropy-coded data may hold anything. The walk
stops at the first EOI, so what follows it (an MPO's second picture, an
Ultra HDR gain map) is neither counted nor decoded.
"""

import re
from dataclasses import dataclass

from .. import errors
from .limits import DecodeLimits

SOI = b"\xff\xd8"
EOI = 0xD9
SOS = 0xDA
DAC = 0xCC
# Baseline, extended sequential and progressive Huffman: what Pillow's
# libjpeg build decodes and every camera writes. Lossless, hierarchical and
# arithmetic-coded frames are refused (costly, rare, barely tested decoders).
ACCEPTED_SOF = frozenset({0xC0, 0xC1, 0xC2})
REFUSED_SOF = frozenset({0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
METADATA_MARKERS = frozenset({*range(0xE0, 0xF0), 0xFE})  # APP0-APP15, COM
# Grey, YCbCr/RGB and CMYK/YCCK: what Pillow decodes. The standard allows 255
# components per frame and 4 per scan; more would only make the walk costly.
MAX_COMPONENTS = 4
# Markers that stand alone, without a length field: TEM and RST0-RST7.
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})
# A marker: 0xFF then a byte that is neither stuffing (0x00), a restart
# marker (0xD0-0xD7, which only ever appear inside entropy-coded data) nor
# another 0xFF (fill byte). Searching with this skips entropy-coded data and
# junk in C, so a 10 MB file of 0xFF00 pairs costs one regex pass.
_MARKER = re.compile(rb"\xff[\x01-\xcf\xd8-\xfe]")
# Encoders stuff every 0xFF of entropy-coded data with 0x00; a long run of
# 0xFF is fill, which libjpeg's suspending reader rescans on every refill.
FILL_RUN = 64
FILL = b"\xff" * FILL_RUN


@dataclass(frozen=True)
class Component:
    ident: int
    h: int
    v: int


@dataclass(frozen=True)
class JpegStructure:
    """What the markers say: the frame, its scans and what decoding them costs."""

    sof: int | None
    width: int
    height: int
    components: tuple[Component, ...]
    scans: int
    scan_blocks: int
    markers: int
    metadata_bytes: int

    @property
    def progressive(self) -> bool:
        return self.sof == 0xC2


def inspect(data: bytes, limits: DecodeLimits) -> JpegStructure:
    """Walk the markers of the first image in `data` against `limits`.

    Raises errors.InvalidImage for a stream that is not a JPEG or uses a
    refused coding process, errors.TooManyScans past `max_jpeg_scans`, and
    errors.TooCostly for anything else whose cost is over a cap (markers,
    fill bytes, metadata bytes, scan block visits).
    """
    if not data.startswith(SOI):
        raise errors.InvalidImage()
    walk = _Walk(data, limits)
    walk.run()
    return walk.result()


class _Walk:
    """One pass over the markers; each handler checks its own cap as it goes."""

    def __init__(self, data: bytes, limits: DecodeLimits) -> None:
        self.data = data
        self.limits = limits
        self.sof: int | None = None
        self.width = self.height = 0
        self.components: dict[int, Component] = {}
        self.h_max = self.v_max = 1
        self.scans = self.scan_blocks = self.markers = self.metadata_bytes = 0
        self.fill_at = -1

    def run(self) -> None:
        position = len(SOI)
        in_scan = False
        while (match := self._next_marker(position, in_scan)) is not None:
            if not in_scan and match.start() - position > self.limits.max_jpeg_fill_bytes:
                raise errors.TooCostly("The JPEG carries too many bytes between its segments.")
            marker = self.data[match.start() + 1]
            position = match.end()
            if marker == EOI:
                return
            self._count_marker()
            if marker in _STANDALONE:
                continue
            end = _skip_segment(self.data, position)
            self._segment(marker, self.data[position + 2 : end])
            position, in_scan = end, marker == SOS

    def _next_marker(self, position: int, in_scan: bool) -> re.Match | None:
        """The next marker; in entropy-coded data, refuse a fill run met before it.

        The run is found with one C-speed search, and the marker search stops
        at it: a regex crawling megabytes of 0xFF would itself be the cost.
        """
        if not in_scan:
            return _MARKER.search(self.data, position)
        if self.fill_at < position:
            self.fill_at = self.data.find(FILL, position)
            if self.fill_at == -1:
                self.fill_at = len(self.data) + 1
        match = _MARKER.search(self.data, position, self.fill_at + 1)
        if match is None or match.start() >= self.fill_at:
            if self.fill_at <= len(self.data):
                raise errors.TooCostly("The JPEG carries long runs of fill bytes.")
        return match

    def result(self) -> JpegStructure:
        if self.sof is None:
            raise errors.InvalidImage()
        return JpegStructure(
            sof=self.sof,
            width=self.width,
            height=self.height,
            components=tuple(self.components.values()),
            scans=self.scans,
            scan_blocks=self.scan_blocks,
            markers=self.markers,
            metadata_bytes=self.metadata_bytes,
        )

    def _count_marker(self) -> None:
        self.markers += 1
        if self.markers > self.limits.max_jpeg_markers:
            raise errors.TooCostly("The JPEG has too many segments.")

    def _segment(self, marker: int, payload: bytes) -> None:
        if marker in ACCEPTED_SOF:
            self._frame(marker, payload)
        elif marker in REFUSED_SOF or marker == DAC:
            raise errors.InvalidImage(
                "The JPEG uses a coding process this service does not decode "
                "(lossless, hierarchical or arithmetic)."
            )
        elif marker == SOS:
            self._scan(payload)
        elif marker in METADATA_MARKERS:
            self.metadata_bytes += len(payload)
            if self.metadata_bytes > self.limits.max_jpeg_metadata_bytes:
                raise errors.TooCostly("The JPEG carries too much metadata.")

    def _frame(self, marker: int, payload: bytes) -> None:
        if self.sof is not None or len(payload) < 6:
            raise errors.InvalidImage()
        self.sof = marker
        self.height = int.from_bytes(payload[1:3], "big")
        self.width = int.from_bytes(payload[3:5], "big")
        count = payload[5]
        if not 0 < count <= MAX_COMPONENTS:
            raise errors.InvalidImage()
        for index in range(count):
            entry = payload[6 + 3 * index : 9 + 3 * index]
            if len(entry) < 3 or not entry[1] >> 4 or not entry[1] & 0x0F:
                raise errors.InvalidImage()
            self.components[entry[0]] = Component(entry[0], entry[1] >> 4, entry[1] & 0x0F)
        if len(self.components) != count or not self.width or not self.height:
            raise errors.InvalidImage()
        self.h_max = max(c.h for c in self.components.values())
        self.v_max = max(c.v for c in self.components.values())

    def _scan(self, payload: bytes) -> None:
        self.scans += 1
        if self.scans > self.limits.max_jpeg_scans:
            raise errors.TooManyScans()
        if self.sof is None or not payload or not 0 < payload[0] <= len(self.components):
            raise errors.InvalidImage()
        idents = payload[1 : 1 + 2 * payload[0] : 2]
        self.scan_blocks += sum(self._blocks(ident) for ident in idents)
        if self.scan_blocks > self.limits.max_jpeg_scan_blocks:
            raise errors.TooManyScans()

    def _blocks(self, ident: int) -> int:
        """8x8 blocks of one component: what one scan of it makes the decoder visit."""
        component = self.components.get(ident)
        if component is None:
            raise errors.InvalidImage()
        width = -(-self.width * component.h // self.h_max)
        height = -(-self.height * component.v // self.v_max)
        return -(-width // 8) * -(-height // 8)


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
