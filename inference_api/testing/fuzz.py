"""Fuzzing the validation-and-decode path with mutations of real files.

Seeds are the corpus files whose bytes are JPEG, PNG or WebP (valid and
hostile alike) plus a few other formats' files. Each example mutates a seed
the way broken and malicious files differ from good ones: bit flips,
truncation, overwritten, inserted, deleted or repeated bytes, and edits of
header fields that keep the container consistent (a PNG chunk with its CRC
fixed, a JPEG SOF's dimensions, a WebP's canvas size), so the mutation gets
past the cheap checks and into the decoders. The declared type and the
filename are drawn too.

The property: the serializer (whose checks and decode run in the budgeted
decoder process) either accepts the upload and gives the model's RGB input
square, or raises one of our ApiErrors with a 4xx status; and the same
checks run in this process (`imaging.prepare`) come to the same verdict,
raising nothing but a refusal. Any other exception, a 5xx or a verdict that
differs is a bug. The test's run is short and
derandomized (tests/e2e/test_fuzz.py). Import it after Django is set up.
"""

import struct
import zlib
from pathlib import Path

from django.utils.datastructures import MultiValueDict
from hypothesis import strategies as st

from inference_api.classifier import check
from inference_api.errors import ApiError
from inference_api.exceptions import as_api_error
from inference_api.imaging.limits import DecodeLimits, ModelInput
from inference_api.imaging.prepare import prepare
from inference_api.testing.http import BOUNDARY, multipart
from inference_api.upload import multipart as multipart_parser
from inference_api.upload.form import AnalyzeRequestSerializer

MAGIC_BYTES = 12
SEED_MAX_BYTES = 160 * 1024
ALLOWED_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"RIFF")
# A few files of other formats, to be sent under an image type.
OTHER_SEEDS = ("hopper.gif", "hopper.tif", "hopper.bmp", "hopper.webp")
CONTENT_TYPES = (
    "image/jpeg",
    "image/png",
    "image/webp",
    "image/gif",
    "image/svg+xml",
    "text/html",
    "application/octet-stream",
    "",
    "IMAGE/PNG; charset=binary",
)
FILENAMES = ("photo.jpg", "photo.png", "a.webp", "x", "../../etc/passwd", "évil\x00.png", "a" * 300)
FUZZ_EXAMPLES = 400
# Verdicts that come from the decoder process, which `prepare` reaches here too.
DECODER_VERDICTS = frozenset(
    {"accepted", "invalid_image", "image_too_large", "decompression_bomb", "too_many_scans"}
)


def corpus_seeds(corpus: Path, max_bytes: int = SEED_MAX_BYTES) -> list[bytes]:
    """The corpus files a fuzzer starts from: allowed-format bytes, and a few others."""
    seeds = []
    for path in sorted(corpus.iterdir()):
        if not path.is_file() or path.stat().st_size > max_bytes or path.suffix in {".tsv", ""}:
            continue
        data = path.read_bytes()
        if data.startswith(ALLOWED_MAGIC) or path.name in OTHER_SEEDS:
            seeds.append(data)
    return seeds


# --- structure-aware edits ---------------------------------------------------------------------


def png_chunks(data: bytes) -> list[tuple[int, int, bytes]]:
    """(offset, length, type) of each PNG chunk, as far as the bytes make sense."""
    chunks, offset = [], 8
    while offset + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[offset : offset + 8])
        chunks.append((offset, length, kind))
        offset += 12 + length
    return chunks


def png_with_field(data: bytes, chunk_index: int, position: int, value: bytes) -> bytes:
    """Overwrite bytes inside one chunk's payload and fix that chunk's CRC."""
    chunks = png_chunks(data)
    if not chunks:
        return data
    offset, length, kind = chunks[chunk_index % len(chunks)]
    start = offset + 8
    end = min(start + length, len(data))
    payload = bytearray(data[start:end])
    if not payload:
        return data
    at = position % len(payload)
    payload[at : at + len(value)] = value
    payload = bytes(payload[: end - start])
    crc = struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)
    return data[:start] + payload + crc + data[end + 4 :]


def jpeg_frame_header(data: bytes) -> int | None:
    """Offset of the first SOFn marker's payload, or None."""
    offset = 2
    while offset + 4 <= len(data) and data[offset] == 0xFF:
        marker = data[offset + 1]
        (length,) = struct.unpack(">H", data[offset + 2 : offset + 4])
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            return offset + 4
        if marker == 0xDA:
            return None
        offset += 2 + length
    return None


def jpeg_with_frame(data: bytes, precision: int, height: int, width: int, components: int) -> bytes:
    """Rewrite the SOF's precision, dimensions and component count."""
    at = jpeg_frame_header(data)
    if at is None or at + 6 > len(data):
        return data
    return data[:at] + struct.pack(">BHHB", precision, height, width, components) + data[at + 6 :]


def webp_with_canvas(data: bytes, width: int, height: int, riff_size: int | None) -> bytes:
    """Rewrite a VP8X canvas size (24-bit, minus one) or the RIFF size field."""
    if not data.startswith(b"RIFF"):
        return data
    out = bytearray(data)
    if riff_size is not None and len(out) >= 8:
        out[4:8] = struct.pack("<I", riff_size)
    if out[12:16] == b"VP8X" and len(out) >= 30:
        out[24:27] = (width & 0xFFFFFF).to_bytes(3, "little")
        out[27:30] = (height & 0xFFFFFF).to_bytes(3, "little")
    return bytes(out)


# --- the mutation strategy -----------------------------------------------------------------------

dimension = st.one_of(
    st.sampled_from([0, 1, 255, 256, 7999, 8000, 8001, 25000, 65535]), st.integers(0, 65535)
)


@st.composite
def mutation(draw, data: bytes) -> bytes:
    """One edit of `data`."""
    if not data:
        return draw(st.binary(max_size=64))
    size = len(data)
    # Hypothesis favours small integers; keep most edits off the magic bytes,
    # whose breakage the cheapest check already catches.
    low = 0 if draw(st.integers(0, 9)) == 0 else min(MAGIC_BYTES, size - 1)
    position = draw(st.integers(low, size - 1))
    kind = draw(
        st.sampled_from(
            [
                "flip",
                "truncate",
                "overwrite",
                "insert",
                "delete",
                "repeat",
                "png",
                "jpeg",
                "webp",
            ]
        )
    )
    if kind == "flip":
        out = bytearray(data)
        out[position] ^= 1 << draw(st.integers(0, 7))
        return bytes(out)
    if kind == "truncate":
        return data[:position]
    if kind == "overwrite":
        noise = draw(st.binary(min_size=1, max_size=16))
        return data[:position] + noise + data[position + len(noise) :]
    if kind == "insert":
        return data[:position] + draw(st.binary(min_size=1, max_size=64)) + data[position:]
    if kind == "delete":
        return data[:position] + data[position + draw(st.integers(1, 256)) :]
    if kind == "repeat":
        piece = data[position : position + draw(st.integers(1, 512))]
        return data[:position] + piece * draw(st.integers(2, 50)) + data[position:]
    if kind == "png":
        value = draw(
            st.one_of(
                st.binary(min_size=1, max_size=8),
                st.builds(lambda w, h: struct.pack(">II", w, h), dimension, dimension),
            )
        )
        return png_with_field(data, draw(st.integers(0, 8)), draw(st.integers(0, 64)), value)
    if kind == "jpeg":
        return jpeg_with_frame(
            data,
            draw(st.sampled_from([0, 8, 12, 16, 255])),
            draw(dimension),
            draw(dimension),
            draw(st.sampled_from([0, 1, 2, 3, 4, 5, 255])),
        )
    return webp_with_canvas(
        data, draw(dimension), draw(dimension), draw(st.none() | st.integers(0, 2**32 - 1))
    )


@st.composite
def hostile_upload(draw, seeds: list[bytes]) -> tuple[bytes, str, str]:
    """(bytes, declared type, filename): a seed with one to three edits."""
    data = draw(st.sampled_from(seeds))
    for _ in range(draw(st.integers(1, 3))):
        data = draw(mutation(data))
    # Mostly honest type and name, so that most examples reach the decoders.
    honest = draw(st.integers(0, 9)) < 8
    content_type = _honest_type(data) if honest else draw(st.sampled_from(CONTENT_TYPES))
    honest = draw(st.integers(0, 9)) < 8
    filename = "upload" if honest else draw(st.sampled_from(FILENAMES) | st.text(max_size=40))
    return data, content_type, filename


def _honest_type(data: bytes) -> str:
    """The type the bytes' magic claims (WebP for anything else)."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG"):
        return "image/png"
    return "image/webp"


# --- the property ---------------------------------------------------------------------------


def parse_form(body: bytes) -> MultiValueDict:
    """The API's own multipart parsing (upload/multipart.py), as DRF runs it."""
    parsed = multipart_parser.parse_form(body, BOUNDARY.encode())
    form = parsed.data.copy()
    form.update(parsed.files)
    return form


def analyze_offline(data: bytes, content_type: str, filename: str) -> str:
    """Parse, check and decode one upload as the API does: "accepted" or the 4xx error code.

    Fails (AssertionError) when an exception would become a 5xx, and lets any
    exception from the checks or the decode that is not an ApiError
    propagate: both are bugs.
    """
    try:
        form = parse_form(multipart(data, content_type, filename))
    except Exception as exc:
        # Django's parser raises its own errors; the API's handler maps them.
        mapped = as_api_error(exc)
        assert mapped is not None and 400 <= mapped.status < 500, f"{exc!r} would be a 5xx"
        return mapped.code
    serializer = AnalyzeRequestSerializer(data=form)
    try:
        serializer.is_valid(raise_exception=True)
        image = check(serializer.validated_data["file"], model_input=ModelInput()).square()
    except ApiError as exc:
        assert as_api_error(exc) is exc and 400 <= exc.status < 500, f"{exc!r} -> {exc.status}"
        return exc.code
    assert image.mode == "RGB" and image.size == (224, 224)
    return "accepted"


def prepare_in_process(data: bytes) -> str:
    """The decoder's verdict on `data` computed here: "accepted" or the refusal's code."""
    try:
        prepare(data, DecodeLimits.from_settings(), ModelInput())
    except ApiError as refused:
        return refused.code
    return "accepted"
