"""The byte cap on the wire: a 100 MB upload against a real gunicorn.

A raw socket streams the body (with a Content-Length, or chunked without
one) and watches for the answer while it sends. The server must answer 413
having read no more than the cap plus one chunk: the request's log line
says how many bytes of the file the app took in, and the client counts what
it managed to push into the connection before the answer came, which can
exceed what the server read only by what the kernels buffer in between.
After the answer the server must close the connection instead of draining
the remaining ~90 MB, with either worker type (sync, and gthread which
keeps connections alive).
"""

import json
import select
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path

import pytest
import requests

from inference_api.testing.images.uploads import encode
from inference_api.testing.servers import gunicorn_server
from inference_api.upload.body import CappedMemoryUploadHandler

pytestmark = [pytest.mark.live, pytest.mark.slow]

CAP = 10 * 1024 * 1024  # the default MAX_UPLOAD_BYTES the server runs with
BODY = 100 * 1000 * 1000
CHUNK = CappedMemoryUploadHandler.chunk_size
SEND_BUFFER = 64 * 1024
BOUNDARY = "limit-test-boundary"
# gunicorn discards at most this much of an unread body before closing.
GUNICORN_DRAIN = 64 * 1024


@dataclass
class Exchange:
    """What one raw upload attempt saw."""

    sent_before_answer: int
    sent_after_answer: int
    response: bytes
    closed_by_server: bool

    @property
    def status(self) -> int:
        return int(self.response.split(b" ", 2)[1])

    def json(self) -> dict:
        head, _, body = self.response.partition(b"\r\n\r\n")
        if b"transfer-encoding: chunked" in head.lower():
            size, _, rest = body.partition(b"\r\n")
            body = rest[: int(size, 16)]
        return json.loads(body)

    def header(self, name: str) -> str:
        head = self.response.partition(b"\r\n\r\n")[0].decode("latin-1")
        for line in head.split("\r\n")[1:]:
            key, _, value = line.partition(":")
            if key.strip().lower() == name.lower():
                return value.strip()
        raise KeyError(name)


def body_frames(chunked: bool) -> Iterator[bytes]:
    """A multipart body of BODY bytes: one part 'file' of zeros, framed for the wire."""
    preamble = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    block = bytes(CHUNK)
    produced = 0
    while produced < BODY:
        payload = (preamble + block)[: min(CHUNK, BODY - produced)]
        preamble = b""
        produced += len(payload)
        yield f"{len(payload):x}\r\n".encode() + payload + b"\r\n" if chunked else payload
    if chunked:
        yield b"0\r\n\r\n"


def request_head(chunked: bool) -> bytes:
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {BODY}"
    return (
        "POST /api/v1/analyze/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n{framing}\r\n\r\n"
    ).encode()


def upload_100mb(port: int, *, chunked: bool, timeout: float = 20) -> Exchange:
    """Stream the body while reading; after the answer keep sending until the server hangs up.

    An end-of-stream only says the server will send nothing more; it has hung
    up when a send fails (the kernel answers further data with a reset).
    """
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
    sock.connect(("127.0.0.1", port))
    sock.setblocking(False)
    frames = body_frames(chunked)
    pending, response = request_head(chunked), b""
    sent = {False: 0, True: 0}  # keyed by "the answer has arrived"
    reading, closed = True, False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and pending:
            readable, writable, _ = select.select([sock] if reading else [], [sock], [], 1)
            if readable:
                data = sock.recv(65536)
                response += data
                reading = bool(data)
            if writable:
                count = sock.send(pending)
                sent[b"\r\n\r\n" in response] += count
                pending = pending[count:] or next(frames, b"")
    except (BrokenPipeError, ConnectionResetError):
        closed = True
    finally:
        sock.close()
    head_size = len(request_head(chunked))
    return Exchange(sent[False] - head_size, sent[True], response, closed)


def kernel_buffering() -> int:
    """The most a loopback connection can hold between our send() and the server's recv()."""
    receive_max = int(Path("/proc/sys/net/ipv4/tcp_rmem").read_text().split()[2])
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        send_buffer = probe.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
    return receive_max + send_buffer


def logged_bytes_received(log: str, request_id: str) -> int:
    """bytes_received of the app's JSON log line for that request."""
    for line in log.splitlines():
        if request_id in line and '"inference_api.requests"' in line:
            return json.loads(line)["bytes_received"]
    raise AssertionError(f"no log line for {request_id}:\n{log[-2000:]}")


@pytest.fixture(scope="module", params=[1, 2], ids=["sync", "gthread"])
def server(request):
    env = {"LOG_FORMAT": "json", "GUNICORN_PRELOAD": "false", "MODEL_FILE_NAME": "absent.pt"}
    with gunicorn_server(env=env, workers=1, threads=request.param) as live:
        yield live


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_100mb_upload_is_answered_413_having_read_at_most_the_cap_and_a_chunk(server, chunked):
    exchange = upload_100mb(server.port, chunked=chunked)

    assert exchange.status == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    body = exchange.json()
    assert (body["code"], body["request_id"]) == ("file_too_large", exchange.header("X-Request-ID"))
    time.sleep(0.2)  # the log line is written right after the response
    read_by_app = logged_bytes_received(server.log(), body["request_id"])
    if chunked:
        assert CAP - CHUNK < read_by_app <= CAP + CHUNK
    else:
        assert read_by_app == 0  # refused on the declared length, before the body
    assert exchange.sent_before_answer <= CAP + CHUNK + kernel_buffering()
    assert exchange.sent_before_answer < BODY // 4


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_after_the_413_the_server_hangs_up_instead_of_draining_the_body(server, chunked):
    exchange = upload_100mb(server.port, chunked=chunked)

    assert exchange.status == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    assert exchange.closed_by_server
    assert exchange.sent_after_answer <= GUNICORN_DRAIN + kernel_buffering()


def test_a_small_chunked_upload_is_read_and_checked(server):
    """Without Content-Length the body is still parsed (not taken for empty) and checked."""
    png = encode("PNG")
    body = (
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="x.jpg"\r\n'
            f"Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + png
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )
    response = requests.post(
        server.url + "/api/v1/analyze/",
        data=iter([body[:100], body[100:]]),  # a generator body goes out chunked
        headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
        timeout=10,
    )
    assert "Content-Length" not in response.request.headers
    assert response.status_code == HTTPStatus.UNSUPPORTED_MEDIA_TYPE
    assert response.json()["code"] == "content_type_mismatch"


def test_a_malformed_chunked_body_is_a_400_not_a_crash(server):
    head = request_head(chunked=True)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head + b"zz\r\nnot a chunk size\r\n0\r\n\r\n")
        response = b""
        while chunk := sock.recv(65536):
            response += chunk
    exchange = Exchange(0, 0, response, True)
    assert exchange.status == HTTPStatus.BAD_REQUEST
    assert exchange.json()["code"] == "malformed_request"
