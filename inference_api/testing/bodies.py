"""Whole raw requests for the parsers a worker runs, each at its worst, at the byte cap.

For tests and bench alike (`exchange` in testing/http.py sends them as they
are). Each builder returns the bytes of one HTTP/1.1 request to the analyze
endpoint; the `WORST_BODIES` table names them with the answer the server
must give. Sizes follow the default MAX_UPLOAD_BYTES (10 MiB) and
upload/body.py's envelope.
"""

from dataclasses import dataclass

from ..upload.body import ENVELOPE_BYTES
from ..upload.multipart import PART_HEADERS_MAX
from ..upload.parameters import MAX_VALUE_LENGTH
from .http import ANALYZE

CAP = 10 * 1024 * 1024
BODY_LIMIT = CAP + ENVELOPE_BYTES
BOUNDARY = "worst-body-boundary"
FILE_HEAD = (
    f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="x.png"\r\n'
    "Content-Type: image/png\r\n\r\n"
).encode()
TAIL = f"\r\n--{BOUNDARY}--\r\n".encode()


def head(framing: str, extra: str = "") -> bytes:
    return (
        f"POST {ANALYZE} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n{extra}{framing}\r\n\r\n"
    ).encode()


def sized(body: bytes, extra: str = "") -> bytes:
    return head(f"Content-Length: {len(body)}", extra) + body


def chunk(data: bytes, extension: bytes = b"") -> bytes:
    return b"%x%s\r\n%s\r\n" % (len(data), extension, data)


def tiny_chunks() -> bytes:
    """The file's bytes one per chunk, to the cap: 6 bytes on the wire for each byte."""
    return head("Transfer-Encoding: chunked") + chunk(FILE_HEAD) + b"1\r\n\x00\r\n" * BODY_LIMIT


def one_byte_chunks(data: bytes) -> bytes:
    return b"".join(b"1\r\n%c\r\n" % byte for byte in data)


def one_byte_chunks_to_the_cap() -> bytes:
    """A whole form whose file is at the cap, every byte of it a chunk of its own.

    Within the edge's client_max_body_size (tiny_chunks is not, and nginx
    refuses it before the end): 63 MB on the wire for 10 MB of form.
    """
    return (
        head("Transfer-Encoding: chunked")
        + one_byte_chunks(FILE_HEAD)
        + b"1\r\n\x00\r\n" * CAP
        + one_byte_chunks(TAIL)
        + b"0\r\n\r\n"
    )


def least_chunks_allowed() -> bytes:
    """The smallest chunks the bound lets through (1 KiB), past the cap: 413."""
    block = chunk(bytes(1024))
    count = BODY_LIMIT // 1024 + 1
    return head("Transfer-Encoding: chunked") + chunk(FILE_HEAD) + block * count + b"0\r\n\r\n"


def long_chunk_extensions() -> bytes:
    """1 KiB chunks each with a chunk extension as long as a chunk-size line may be."""
    block = chunk(bytes(1024), b";e=" + b"x" * 8000)
    count = BODY_LIMIT // 1024 + 1
    return head("Transfer-Encoding: chunked") + chunk(FILE_HEAD) + block * count + b"0\r\n\r\n"


def quadratic_part_headers(value_length: int) -> bytes:
    """The fields a form may hold, each with `;` in quotes in its disposition; a file to the cap.

    Quadratic for the email package's parameter split (what Django's
    parse_header_parameters uses): 40 ms for each 8 KB header.
    """
    disposition = 'Content-Disposition: form-data; name="n"; x="' + ";" * value_length + '"'
    part = f"--{BOUNDARY}\r\n{disposition}\r\n\r\nv\r\n".encode()
    body = part * 20 + FILE_HEAD
    return sized(body + bytes(BODY_LIMIT - len(body) - len(TAIL)) + TAIL)


def near_boundaries() -> bytes:
    """A file at the cap made of boundary lines all but their last byte: bytes.find's worst."""
    near = b"\r\n--" + BOUNDARY.encode()[:-1] + b"!"
    data = near * (CAP // len(near))
    return sized(FILE_HEAD + data + TAIL)


def empty_parts() -> bytes:
    """The cap filled with empty parts (750,000 of them fit)."""
    part = f"--{BOUNDARY}\r\n\r\n\r\n".encode()
    return sized(part * (BODY_LIMIT // len(part) - 1) + f"--{BOUNDARY}--\r\n".encode())


def over_cap_sized() -> bytes:
    """A file just past the cap in a body the declared-length check lets through: 413."""
    return sized(FILE_HEAD + bytes(BODY_LIMIT - len(FILE_HEAD) - len(TAIL) - 10) + TAIL)


def over_cap_chunked() -> bytes:
    """A chunked body of 64 KiB chunks that goes past the cap while it is read: 413."""
    block = chunk(bytes(64 * 1024))
    count = BODY_LIMIT // len(block) + 2
    return head("Transfer-Encoding: chunked") + chunk(FILE_HEAD) + block * count + b"0\r\n\r\n"


@dataclass(frozen=True)
class WorstBody:
    """One request at its parser's worst, and the answer the server gives it."""

    parser: str
    build: object
    status: int
    code: str


WORST_BODIES = {
    "1-byte chunks": WorstBody("transfer decoding", tiny_chunks, 400, "too_many_chunks"),
    "1 KiB chunks past the cap": WorstBody(
        "transfer decoding", least_chunks_allowed, 413, "file_too_large"
    ),
    "8 KB chunk extensions": WorstBody(
        "transfer decoding", long_chunk_extensions, 400, "too_many_chunks"
    ),
    "part headers at the value bound": WorstBody(
        "header parameters",
        lambda: quadratic_part_headers(MAX_VALUE_LENGTH - 64),
        400,
        "malformed_request",
    ),
    "part headers at the header cap": WorstBody(
        "header parameters",
        lambda: quadratic_part_headers(PART_HEADERS_MAX - 100),
        400,
        "malformed_request",
    ),
    "near-boundaries to the cap": WorstBody(
        "multipart parts", near_boundaries, 415, "content_type_mismatch"
    ),
    "empty parts to the cap": WorstBody("multipart parts", empty_parts, 400, "malformed_request"),
}


@dataclass(frozen=True)
class EdgeBody:
    """A worst body as sent through the edge: `paced` 1-byte chunks go one per segment."""

    build: object
    paced: int = 0


# Enough 1-byte chunks sent one by one for the chunk bound (65) to be crossed
# with room to spare: ~0.1 s when it is, ~0.5 s when it is not.
PACED_CHUNKS = 3000
EDGE_BODIES = {
    **{name: EdgeBody(worst.build) for name, worst in WORST_BODIES.items()},
    "1-byte chunks to the cap, in bulk": EdgeBody(one_byte_chunks_to_the_cap),
    "1-byte chunks to the cap, one per segment": EdgeBody(one_byte_chunks_to_the_cap, PACED_CHUNKS),
}
