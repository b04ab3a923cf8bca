"""The worst body of each parser a worker runs, through deploy/nginx.conf: buffered and streaming.

nginx runs the shipped config before a one-worker gunicorn twice: as shipped
(`proxy_request_buffering on`) and with `proxy_request_buffering off`
rendered into it (`testing.edge.streaming`). Each worst body of
`testing.bodies` is sent through it, and the gunicorn worker's CPU for it
(from /proc) must stay under the bound of the direct test; every answer is
the JSON contract, a 4xx, never HTML or a 5xx.

What nginx does with a chunked body of 1-byte chunks (nginx 1.22, measured
with a recording upstream and here):
- buffered: it decodes the chunks itself and sends gunicorn the body with a
  Content-Length; the worker never sees a chunk.
- streaming: it re-chunks, one chunk per read from the client, and merges
  the small chunks it finds within one read. Sent in bulk, 200,000 1-byte
  chunks reach gunicorn as ~10 chunks of 20-40 KiB. Sent one per segment
  (as a client on a real network can), each is forwarded as a 1-byte chunk:
  ~199,000 of 200,000 at 1 ms apart, ~4,200 a second on this loopback at
  0.1 ms. The proxy does not protect the worker from tiny chunks.

Bound guarded: the streaming case "1-byte chunks to the cap, one per
segment" is answered 400 `too_many_chunks` only because of gunicorn's
bounded chunked reader (config/gunicorn_http.BoundedChunkedReader, 64
chunks plus one per KiB); without it the worker reads every tiny chunk
nginx forwards for as long as the client keeps pacing them, and the answer
is the file's (tried: 415 after 140 ms of worker CPU, against 10 ms). The
other bodies guard the bounded part-header parser (upload/parameters.py)
and multipart parser behind the proxy, as the direct test does.
"""

import time
from collections.abc import Iterator
from http import HTTPStatus

import pytest

from inference_api.testing import services
from inference_api.testing.bodies import EDGE_BODIES, WORST_BODIES
from inference_api.testing.edge import Balancer, edge_before
from inference_api.testing.http import RawReply, exchange
from inference_api.testing.servers import LiveServer, cpu_seconds, gunicorn_server, worker_pids
from tests.e2e.test_worker_bounds import WORKER_CPU_BOUND

pytestmark = [pytest.mark.live, pytest.mark.slow]

STATUS = {
    "file_too_large": HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
    "malformed_request": HTTPStatus.BAD_REQUEST,
    "too_many_chunks": HTTPStatus.BAD_REQUEST,
    "content_type_mismatch": HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
}


def edge_answers(name: str) -> tuple[str, str]:
    """The contract's code (buffered, streaming) for a body of EDGE_BODIES.

    The direct test's code, except chunked bodies past the edge's cap (nginx
    refuses them) and the form of 1-byte chunks within it.
    """
    if name in WORST_BODIES:
        worst = WORST_BODIES[name]
        code = "file_too_large" if worst.parser == "transfer decoding" else worst.code
        return code, code
    if EDGE_BODIES[name].paced:
        # Streaming, nginx forwards each paced chunk as it came: the chunk bound refuses.
        return "content_type_mismatch", "too_many_chunks"
    return "content_type_mismatch", "content_type_mismatch"


@pytest.fixture(scope="module")
def app() -> Iterator[LiveServer]:
    with gunicorn_server(workers=1) as live:
        yield live


@pytest.fixture(scope="module", params=["buffered", "streaming"])
def edge(request, app) -> Iterator[tuple[str, Balancer]]:
    nginx = services.require_nginx()
    with edge_before(nginx, app.port, buffering=request.param == "buffered") as front:
        yield request.param, front


def assert_json_4xx(reply: RawReply, code: str) -> None:
    text = reply.head + reply.body[:300].decode("latin-1")
    assert reply.status == STATUS[code], text
    assert reply.header("Content-Type").startswith("application/json"), text
    body = reply.json()
    assert body["code"] == code, text
    assert body["request_id"] == reply.header("X-Request-ID") != ""


@pytest.mark.parametrize("name", EDGE_BODIES)
def test_the_worst_body_costs_the_worker_little_through_the_edge(app, edge, name):
    mode, front = edge
    body = EDGE_BODIES[name]
    request = body.build()
    (worker,) = worker_pids(app.process.pid)
    before, nginx_before = cpu_seconds(worker), front.workers_cpu_seconds()
    reply = exchange(front.port, request, timeout=120, paced=body.paced)
    spent = settled_cpu(worker, before)
    nginx_spent = front.workers_cpu_seconds() - nginx_before
    print(f"{mode}: {name}: {len(request):,} bytes, {reply.status} {code_of(reply)}, "
          f"worker CPU {spent * 1000:.0f} ms, nginx CPU {nginx_spent * 1000:.0f} ms")  # fmt: skip
    buffered, streaming = edge_answers(name)
    assert_json_4xx(reply, buffered if mode == "buffered" else streaming)
    assert spent < WORKER_CPU_BOUND, f"{name} cost the worker {spent:.2f} CPU-s ({mode})"


def code_of(reply: RawReply) -> str:
    try:
        return reply.json().get("code", "?")
    except ValueError:
        return f"not JSON: {reply.body[:60]!r}"


def settled_cpu(worker: int, before: float) -> float:
    """The worker's CPU since `before`, once it has stopped using any (the audit row counts)."""
    last = cpu_seconds(worker)
    for _ in range(20):
        time.sleep(0.25)
        now = cpu_seconds(worker)
        if now == last:
            break
        last = now
    return last - before
