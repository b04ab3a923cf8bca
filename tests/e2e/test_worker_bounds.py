"""What a client sends straight to gunicorn: always the JSON contract, never HTML or a 5xx,
and the worst body of each parser a worker runs costs the worker little CPU.

One sync worker, so the worker's CPU time (from /proc) is the cost of the request
sent; its decoders are other processes and not counted.
"""

import time
from http import HTTPStatus

import pytest

from inference_api.testing.bodies import WORST_BODIES, sized
from inference_api.testing.http import ANALYZE, RawReply, exchange
from inference_api.testing.images.uploads import encode
from inference_api.testing.servers import cpu_seconds, gunicorn_server, worker_pids

pytestmark = [pytest.mark.live, pytest.mark.slow]

# A request's own work (Django, the pipeline, the audit row) is ~10-30 ms; the
# decode budget is 1 s. Before the bounds, these bodies cost 0.5-60 CPU-s.
WORKER_CPU_BOUND = 0.25


def form(data: bytes) -> bytes:
    from inference_api.testing.bodies import BOUNDARY

    return (
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n'
            f"Content-Type: image/png\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )


PNG = encode("PNG", (32, 32))
LINE = f"POST {ANALYZE} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
CLIENT_MISTAKES = {
    "an Accept header JSON cannot satisfy": (
        sized(form(PNG), extra="Accept: text/html\r\n"),
        HTTPStatus.NOT_ACCEPTABLE,
        "not_acceptable",
    ),
    "an unknown transfer coding": (
        (LINE + "Transfer-Encoding: foo\r\n\r\n").encode(),
        HTTPStatus.BAD_REQUEST,
        "unsupported_transfer_coding",
    ),
    "a known coding without chunked": (
        (LINE + "Transfer-Encoding: gzip\r\n\r\n").encode(),
        HTTPStatus.BAD_REQUEST,
        "bad_http_request",
    ),
    "a request line over the limit": (
        f"GET {ANALYZE}?{'a' * 5000} HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
        HTTPStatus.REQUEST_URI_TOO_LONG,
        "request_line_too_long",
    ),
    "too many header fields": (
        (LINE + "".join(f"X-Field-{i}: v\r\n" for i in range(60)) + "\r\n").encode(),
        HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
        "headers_too_large",
    ),
    "a header field over the limit": (
        (LINE + "X-Long: " + "v" * 9000 + "\r\n\r\n").encode(),
        HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
        "headers_too_large",
    ),
    "a Host the server does not serve": (
        sized(form(PNG)).replace(b"Host: 127.0.0.1", b"Host: evil.example", 1),
        HTTPStatus.BAD_REQUEST,
        "bad_http_request",
    ),
    "not HTTP at all": (b"\x16\x03\x01 hello\r\n\r\n", HTTPStatus.BAD_REQUEST, "bad_http_request"),
    "a malformed chunk size": (
        (
            LINE + "Content-Type: multipart/form-data; boundary=b\r\n"
            "Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"
        ).encode(),
        HTTPStatus.BAD_REQUEST,
        "malformed_request",
    ),
}


@pytest.fixture(scope="module")
def server():
    with gunicorn_server(workers=1) as live:
        yield live


def assert_contract(reply: RawReply, status: int, code: str) -> None:
    assert reply.status == status, reply.head + reply.body[:300].decode("latin-1")
    assert reply.header("Content-Type") == "application/json"
    body = reply.json()
    assert body["code"] == code
    assert set(body) == {"error", "code", "request_id"}
    assert body["request_id"] == reply.header("X-Request-ID") != ""


@pytest.mark.parametrize("name", CLIENT_MISTAKES)
def test_a_clients_mistake_is_answered_in_the_json_contract(server, name):
    request, status, code = CLIENT_MISTAKES[name]
    reply = exchange(server.port, request, timeout=30)
    assert reply.status < 500
    assert_contract(reply, status, code)


@pytest.mark.parametrize("name", WORST_BODIES)
def test_the_worst_body_of_each_parser_costs_the_worker_little(server, name):
    worst = WORST_BODIES[name]
    request = worst.build()
    (worker,) = worker_pids(server.process.pid)
    before = cpu_seconds(worker)
    reply = exchange(server.port, request, timeout=120)
    time.sleep(0.5)  # the audit row is written after the answer: count it too
    spent = cpu_seconds(worker) - before
    assert_contract(reply, worst.status, worst.code)
    print(f"{name}: {len(request):,} bytes, worker CPU {spent * 1000:.0f} ms")
    assert spent < WORKER_CPU_BOUND, f"{name} cost the worker {spent:.2f} CPU-s"
