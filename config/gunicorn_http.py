"""The two places where this project changes gunicorn's own HTTP handling.

gunicorn answers some requests itself, before the application sees them,
and decodes chunked bodies in the worker, in Python. Version 27 offers no
setting or hook for either, so `install()` (called by gunicorn.conf.py's
`on_starting`, in the master, before any worker is forked) replaces two
names gunicorn looks up at run time:

- `gunicorn.util.write_error`, which `Worker.handle_error` calls for every
  request it refuses (malformed request line or headers, unknown transfer
  coding, over-long request line, too many header fields): the answer is
  the API's JSON error contract (`{"error", "code", "request_id"}`, with
  X-Request-ID), never an HTML page, and a client's mistake is never a 5xx.
- `gunicorn.http.message.ChunkedReader`, which `Request.set_body_reader`
  builds for a chunked body: `BoundedChunkedReader` refuses a body whose
  chunks outnumber what its bytes need (each chunk costs the worker a
  Python round of parsing; a body of 1-byte chunks cost ~1 CPU-s per MB).

tests/config/test_gunicorn_http.py fails when gunicorn stops calling these
names the way this module assumes.
"""

import json
import logging
import uuid
from http import HTTPStatus

from gunicorn import util
from gunicorn.http import message
from gunicorn.http.body import ChunkedReader

from inference_api import errors

log = logging.getLogger("gunicorn.error")

# gunicorn's own status -> the contract's error. Any other 4xx is a bad request;
# 501 (a transfer coding gunicorn does not know) is the client's mistake, a 400.
GUNICORN_ERRORS: dict[int, type[errors.ApiError]] = {
    HTTPStatus.BAD_REQUEST: errors.BadHttpRequest,
    HTTPStatus.REQUEST_URI_TOO_LONG: errors.RequestLineTooLong,
    HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE: errors.HeadersTooLarge,
    HTTPStatus.NOT_IMPLEMENTED: errors.UnsupportedTransferCoding,
}

# A chunked body may have FREE_CHUNKS chunks, plus one per MIN_AVERAGE_CHUNK
# bytes received before it; its chunk-size lines (extensions included) may
# average LINE_BYTES_PER_CHUNK bytes. Real senders (curl, nginx streaming,
# HTTP client libraries) send chunks of KBs with bare hex sizes.
FREE_CHUNKS = 64
MIN_AVERAGE_CHUNK = 1024
LINE_BYTES_PER_CHUNK = 32


def install() -> None:
    """Put the JSON error writer and the bounded chunked reader in gunicorn's place."""
    util.write_error = write_json_error
    message.ChunkedReader = BoundedChunkedReader


def contract_error(status: int) -> errors.ApiError:
    """The contract's error for a status gunicorn chose for a request it refused."""
    if status in GUNICORN_ERRORS:
        return GUNICORN_ERRORS[status]()
    if 400 <= status < 500:
        return errors.BadHttpRequest()
    return errors.InternalError()


def json_error(error: errors.ApiError, request_id: str) -> bytes:
    """A whole HTTP/1.1 answer (head and body) in the error contract; the connection closes."""
    body = json.dumps(
        {"error": error.message, "code": error.code, "request_id": request_id}
    ).encode()
    status = HTTPStatus(error.status)
    head = (
        f"HTTP/1.1 {status.value} {status.phrase}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"X-Request-ID: {request_id}\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        "Cache-Control: no-store\r\n"
        "\r\n"
    )
    return head.encode("latin-1") + body


def write_json_error(sock, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's `util.write_error`, answering the contract; `mesg` goes to the log only."""
    error = contract_error(status_int)
    request_id = uuid.uuid4().hex
    log.warning(
        "Answered %s %s (gunicorn's %s %s), request id %s: %s",
        int(error.status),
        error.code,
        status_int,
        reason,
        request_id,
        mesg,
    )
    util.write_nonblock(sock, json_error(error, request_id))


class BoundedChunkedReader(ChunkedReader):
    """gunicorn's chunked decoding, refused (`errors.TooManyChunks`) past its chunk budget.

    The budget grows with the bytes received: FREE_CHUNKS, then one chunk per
    MIN_AVERAGE_CHUNK bytes, and LINE_BYTES_PER_CHUNK bytes of chunk-size
    line per allowed chunk. So the worker's Python work per body byte is
    bounded whatever the split, and the byte cap (upload.body) bounds the rest.
    The refusal propagates out of `wsgi.input.read` to the application,
    which answers it as the contract's 400.
    """

    def __init__(self, req, unreader) -> None:
        super().__init__(req, unreader)
        self.chunks = 0
        self.data_bytes = 0
        self.line_bytes = 0
        self._read_for_lines = 0

    def read_into(self, unreader, buf) -> None:
        before = len(buf)
        super().read_into(unreader, buf)
        self._read_for_lines += len(buf) - before

    def parse_chunk_size(self, unreader, data=None):
        read_before = self._read_for_lines
        size, rest = super().parse_chunk_size(unreader, data)
        consumed = len(data or b"") + self._read_for_lines - read_before - len(rest or b"")
        self.chunks += 1
        self.line_bytes += consumed
        allowed = FREE_CHUNKS + self.data_bytes // MIN_AVERAGE_CHUNK
        if self.chunks > allowed or self.line_bytes > LINE_BYTES_PER_CHUNK * allowed:
            raise errors.TooManyChunks()
        self.data_bytes += size
        return size, rest
