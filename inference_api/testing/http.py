"""The analyze endpoint on the wire: its URL, multipart bodies, raw posts and floods.

Requests are sent with http.client on a new connection each time, as
gunicorn's sync workers close the connection after every response; a body is
built once per image, so a client spends almost no CPU of what the workers
need. `upload_file` is the same upload for Django's test client.
"""

import http.client
import json
import re
import select
import socket
import time
from dataclasses import dataclass, field
from urllib.parse import urlparse

ANALYZE = "/api/v1/analyze/"
BOUNDARY = "benchboundary7d1f0c"


def upload_file(payload: bytes, name: str = "photo.png", content_type: str = "image/png"):
    """`payload` as the file field of a form posted with Django's test client."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, payload, content_type=content_type)


def multipart(data: bytes, content_type: str | None, filename: str) -> bytes:
    """One multipart/form-data body with `data` in the field `file`.

    Header values go as they are, not escaped, as a browser or an attacker
    sends them (a filename with a quote or a lone surrogate included). A
    `content_type` of None leaves the part without one, as Python requests does.
    """
    type_line = "" if content_type is None else f"Content-Type: {content_type}\r\n"
    head = (
        f"--{BOUNDARY}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        f"{type_line}\r\n"
    ).encode("utf-8", "surrogateescape")
    return head + data + f"\r\n--{BOUNDARY}--\r\n".encode()


def assert_refused(response, status: int, code: str, message: str | None = None) -> dict:
    """Assert that a test client's `response` is a refusal as the error contract says; its body.

    `status`, and a JSON body of exactly a person's message (`message` when
    given; never a traceback), the stable `code` and the request id the
    X-Request-ID header carries.
    """
    assert response.status_code == status, response.content
    body = response.json()
    assert body == {"error": body["error"], "code": code, "request_id": response["X-Request-ID"]}
    assert body["error"] and "Traceback" not in body["error"]
    if message is not None:
        assert body["error"] == message
    return body


MULTIPART_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


@dataclass
class Reply:
    """One response as the client saw it."""

    status: int
    elapsed_ms: float
    request_id: str = ""
    body: bytes = b""
    headers: dict = field(default_factory=dict)

    def json(self) -> dict:
        return json.loads(self.body or b"{}")


def post(
    url: str,
    body: bytes,
    headers: dict | None = None,
    timeout: float = 60,
    source: str | None = None,
) -> Reply:
    """POST a prepared multipart body on a fresh connection; the time is the whole exchange.

    `source` is the local address to send from (another loopback address is
    another client to the server's rate limits).
    """
    parsed = urlparse(url)
    started = time.perf_counter()
    conn = http.client.HTTPConnection(
        parsed.hostname,
        parsed.port,
        timeout=timeout,
        source_address=(source, 0) if source else None,
    )
    try:
        conn.connect()
        # As curl, browsers and requests do: no Nagle delay on the last segment.
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.request(
            "POST",
            ANALYZE,
            body=body,
            headers={
                "Content-Type": MULTIPART_TYPE,
                **(headers or {}),
            },
        )
        response = conn.getresponse()
        payload = response.read()
    finally:
        conn.close()
    elapsed = (time.perf_counter() - started) * 1000
    return Reply(
        status=response.status,
        elapsed_ms=elapsed,
        request_id=response.getheader("X-Request-ID", ""),
        body=payload,
        headers=dict(response.getheaders()),
    )


@dataclass
class Flood:
    """An oversized body sent until the server answered: what it cost."""

    status: int
    elapsed_ms: float
    bytes_sent: int
    request_id: str


def flood(
    url: str,
    total: int,
    *,
    declare_length: bool,
    chunk: int = 64 * 1024,
    headers: dict | None = None,
    timeout: float = 30,
) -> Flood:
    """Send a `total`-byte multipart body, stopping as soon as the server answers.

    With `declare_length` the head carries Content-Length: total; without,
    the body is sent chunked. `bytes_sent` counts the body bytes the kernel
    accepted before the answer came (an upper bound on what the server read).
    """
    parsed = urlparse(url)
    head_lines = [
        f"POST {ANALYZE} HTTP/1.1",
        f"Host: {parsed.hostname}:{parsed.port}",
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}",
        "Connection: close",
        *(f"{k}: {v}" for k, v in (headers or {}).items()),
        f"Content-Length: {total}" if declare_length else "Transfer-Encoding: chunked",
    ]
    preamble = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    started = time.perf_counter()
    sent = 0
    with socket.create_connection((parsed.hostname, parsed.port), timeout=timeout) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(("\r\n".join(head_lines) + "\r\n\r\n").encode())
        block = preamble + b"\x89PNG\r\n\x1a\n" + bytes(chunk - len(preamble) - 8)
        filler = bytes(chunk)
        while sent < total and not _readable(sock):
            piece = block if sent == 0 else filler
            piece = piece[: total - sent]
            framed = piece if declare_length else f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
            try:
                sock.sendall(framed)
            except OSError:
                break
            sent += len(piece)
        raw = _read_response(sock)
    elapsed = (time.perf_counter() - started) * 1000
    status, request_id = _status_and_id(raw)
    return Flood(status=status, elapsed_ms=elapsed, bytes_sent=sent, request_id=request_id)


def _readable(sock: socket.socket) -> bool:
    return bool(select.select([sock], [], [], 0)[0])


def _read_response(sock: socket.socket) -> bytes:
    raw = b""
    try:
        while b"\r\n\r\n" not in raw:
            data = sock.recv(65536)
            if not data:
                break
            raw += data
    except OSError:
        pass
    return raw


def _status_and_id(raw: bytes) -> tuple[int, str]:
    head = raw.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    match = re.match(r"HTTP/1\.\d (\d{3})", head)
    found = re.search(r"^X-Request-ID: (\S+)", head, re.MULTILINE | re.IGNORECASE)
    return (int(match.group(1)) if match else 0), (found.group(1) if found else "")


def post_file(
    base_url: str,
    data: bytes,
    content_type: str,
    *,
    name: str = "upload",
    headers: dict | None = None,
    timeout: float = 60,
):
    """POST `data` as the file field to a live server's analyze endpoint with requests."""
    import requests

    files = {"file": (name, data, content_type)}
    return requests.post(base_url + ANALYZE, files=files, headers=headers or {}, timeout=timeout)


@dataclass
class RawReply:
    """An answer read off a raw socket until the server closed it."""

    status: int
    head: str
    body: bytes

    def header(self, name: str) -> str:
        found = re.search(rf"^{name}:\s*(.*?)\r?$", self.head, re.MULTILINE | re.IGNORECASE)
        return found.group(1) if found else ""

    def json(self) -> dict:
        if "chunked" not in self.header("Transfer-Encoding").lower():
            return json.loads(self.body)
        size, _, rest = self.body.partition(b"\r\n")
        return json.loads(rest[: int(size, 16)])


def exchange(
    port: int, request: bytes, timeout: float = 60, paced: int = 0, piece: int = 6
) -> RawReply:
    """Send `request` as it is (any bytes, any framing) to 127.0.0.1:`port`; its answer.

    The bytes go in 64 KiB pieces, and sending stops as soon as the server
    answers (a server that refuses early closes without reading the rest).
    With `paced`, the first `paced` pieces of `piece` bytes after the head go
    one per send, PACE seconds apart, so that a proxy reads each on its own
    (6 bytes: one 1-byte chunk). The answer is read to its Content-Length or
    the server's close, so a test sees exactly what a client would:
    gunicorn's own pages included.
    """
    raw = b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        view = memoryview(request)
        try:
            sent = _send_paced(sock, view, paced, piece) if paced else 0
            for start in range(sent, len(view), 65536):
                if _readable(sock):
                    break
                sock.sendall(view[start : start + 65536])
        except OSError:
            pass  # the server answered and hung up: read what it said
        while not _complete(raw):
            try:
                data = sock.recv(65536)
            except OSError:
                break
            if not data:
                break
            raw += data
    head, _, body = raw.partition(b"\r\n\r\n")
    status, _ = _status_and_id(raw)
    return RawReply(status=status, head=head.decode("latin-1"), body=body)


# Between paced pieces: long enough for nginx to read each by itself on
# loopback (it merges what it finds in one read), short enough for ~5,000 a second.
PACE = 0.0001


def _send_paced(sock: socket.socket, view: memoryview, pieces: int, piece: int) -> int:
    """The head at once, then `pieces` pieces one per send; the bytes sent."""
    sent = bytes(view[:65536]).index(b"\r\n\r\n") + 4
    sock.sendall(view[:sent])
    for _ in range(pieces):
        if _readable(sock) or sent >= len(view):
            break
        sock.sendall(view[sent : sent + piece])
        sent += piece
        until = time.perf_counter() + PACE
        while time.perf_counter() < until:
            pass  # a sleep this short oversleeps by ~60 us
    return sent


def _complete(raw: bytes) -> bool:
    head, separator, body = raw.partition(b"\r\n\r\n")
    length = re.search(rb"^content-length:\s*(\d+)", head, re.MULTILINE | re.IGNORECASE)
    if separator and length:
        return len(body) >= int(length.group(1))
    return bool(separator) and body.endswith(b"\r\n0\r\n\r\n")
