"""config/gunicorn_http.py: what it replaces in gunicorn is still what gunicorn calls,
and the bounded chunked reader on gunicorn's own body classes (no server needed)."""

import inspect
import json

import pytest
from gunicorn import util
from gunicorn.http import message
from gunicorn.http.body import Body, ChunkedReader
from gunicorn.http.unreader import IterUnreader
from gunicorn.workers.base import Worker

from config import gunicorn_http
from config.gunicorn_http import FREE_CHUNKS, MIN_AVERAGE_CHUNK, BoundedChunkedReader
from inference_api import errors

MIB = 1024 * 1024


class Request:
    """What ChunkedReader reads of its request: the header limits (gunicorn's defaults)."""

    limit_request_field_size = 8190
    max_buffer_headers = 0
    trailers = None


def chunked(*chunks: bytes, extension: bytes = b"") -> list[bytes]:
    """A chunked body on the wire, in the 8 KiB pieces a socket gives."""
    wire = b"".join(b"%x%s\r\n%s\r\n" % (len(c), extension, c) for c in chunks) + b"0\r\n\r\n"
    return [wire[i : i + 8192] for i in range(0, len(wire), 8192)]


def read_all(pieces: list[bytes]) -> bytes:
    body = Body(BoundedChunkedReader(Request(), IterUnreader(pieces)))
    data = b""
    while piece := body.read(MIB):
        data += piece
    return data


def test_gunicorn_still_answers_its_refusals_through_util_write_error():
    # install() replaces util.write_error: Worker.handle_error must look it up at call time.
    assert "util.write_error(client, status_int, reason, mesg)" in inspect.getsource(
        Worker.handle_error
    )
    assert "def write_error(sock, status_int, reason, mesg):" in inspect.getsource(util)


def test_gunicorn_still_builds_the_chunked_reader_by_its_module_global():
    assert "Body(ChunkedReader(self, self.unreader))" in inspect.getsource(message)
    assert message.ChunkedReader in (ChunkedReader, BoundedChunkedReader)
    parse_chunked = inspect.getsource(ChunkedReader.parse_chunked)
    assert parse_chunked.count("self.parse_chunk_size(unreader") == 2
    assert "self.read_into(unreader, buf)" in inspect.getsource(ChunkedReader.parse_chunk_size)


def test_install_puts_both_in_place():
    gunicorn_http.install()
    assert util.write_error is gunicorn_http.write_json_error
    assert message.ChunkedReader is BoundedChunkedReader


@pytest.mark.parametrize(
    ("status", "code", "answered"),
    [
        (400, "bad_http_request", 400),
        (414, "request_line_too_long", 414),
        (431, "headers_too_large", 431),
        (501, "unsupported_transfer_coding", 400),
        (417, "bad_http_request", 400),
        (500, "internal_error", 500),
    ],
)
def test_gunicorns_statuses_become_the_contracts_codes(status, code, answered):
    error = gunicorn_http.contract_error(status)
    raw = gunicorn_http.json_error(error, "abc123")
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 %d " % answered)
    assert b"Content-Type: application/json" in head
    assert b"X-Request-ID: abc123" in head
    assert json.loads(body) == {"error": error.message, "code": code, "request_id": "abc123"}


def test_a_body_in_chunks_of_real_senders_sizes_is_read_whole():
    data = bytes(range(256)) * 40_000  # ~10 MB
    chunks = [data[i : i + MIN_AVERAGE_CHUNK] for i in range(0, len(data), MIN_AVERAGE_CHUNK)]
    assert read_all(chunked(*chunks)) == data


def test_a_body_of_tiny_chunks_is_refused_after_the_free_ones():
    pieces = chunked(*[b"x"] * 100_000)
    with pytest.raises(errors.TooManyChunks):
        read_all(pieces)
    # The last chunk (size 0) is one of the free ones too.
    assert read_all(chunked(*[b"x"] * (FREE_CHUNKS - 1))) == b"x" * (FREE_CHUNKS - 1)


def test_chunk_extensions_count_against_the_bound():
    chunks = [b"y" * MIN_AVERAGE_CHUNK] * 200
    assert len(read_all(chunked(*chunks, extension=b";a=b"))) == 200 * MIN_AVERAGE_CHUNK
    with pytest.raises(errors.TooManyChunks):
        read_all(chunked(*chunks, extension=b";" + b"e" * 4000))
