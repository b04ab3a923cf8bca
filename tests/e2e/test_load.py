"""A bounded load run against gunicorn, PostgreSQL and Redis, then an exact audit count.

2,000 requests from 20 concurrent clients: valid images, hostile files, bodies
over the cap (declared and chunked), wrong methods, from 50 ordinary client
addresses that stay under the rate limit and one greedy address that does
not. The addresses are simulated with X-Forwarded-For from a trusted proxy
(127.0.0.1). Every answer must be the documented one (never a 5xx, never a
dropped connection), and afterwards the audit trail, read straight from the
server's database, must account for every request exactly once: one row per
request id, and the aggregated rows' counts (429s, 405s) adding up per
client to what the clients received.
"""

import http.client
import io
import queue
import random
import threading
from collections import Counter, defaultdict
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import urlparse

import pytest
import redis

from inference_api.testing import http as wire
from inference_api.testing.images import photos
from inference_api.testing.servers import database_rows, eventually, gunicorn_server

pytestmark = [pytest.mark.live, pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

REDIS_DB = 5
WORKERS = 3
CLIENTS = 20
RATE = 60
OVER_CAP = 11 * 1024 * 1024
ORDINARY_IPS = [f"10.20.{i // 250}.{i % 250 + 1}" for i in range(50)]
GREEDY_IP = "10.99.0.1"
GREEDY_REQUESTS = 400
DOCUMENTED = {200, 400, 401, 403, 405, 413, 415, 422, 429, 503}
# Outcomes the audit trail counts in one row per client per minute.
AGGREGATED = {"rate_limited", "blocked", "method_not_allowed", "not_found", "service_unavailable"}

# kind -> (how many, from the ordinary addresses; expected status, expected code)
PLAN = {
    "jpeg": (380, HTTPStatus.OK, "ok"),
    "png": (150, HTTPStatus.OK, "ok"),
    "webp": (150, HTTPStatus.OK, "ok"),
    "bomb": (100, HTTPStatus.UNPROCESSABLE_ENTITY, "decompression_bomb"),
    "png_as_jpeg": (100, HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "content_type_mismatch"),
    "html_as_png": (100, HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "content_type_mismatch"),
    "truncated_jpeg": (100, HTTPStatus.UNPROCESSABLE_ENTITY, "invalid_image"),
    "empty": (60, HTTPStatus.UNPROCESSABLE_ENTITY, "invalid_image"),
    "gif": (60, HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
    "no_file": (60, HTTPStatus.BAD_REQUEST, "no_file"),
    "two_files": (60, HTTPStatus.BAD_REQUEST, "too_many_files"),
    "over_cap_declared": (120, HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "file_too_large"),
    "over_cap_chunked": (40, HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "file_too_large"),
    "get": (120, HTTPStatus.METHOD_NOT_ALLOWED, "method_not_allowed"),
}


def encoded(size: tuple[int, int], fmt: str, mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    photos.photo(size).convert(mode).save(buffer, fmt)
    return buffer.getvalue()


def part(data: bytes, content_type: str, filename: str, field: str = "file") -> bytes:
    return (
        (
            f'--{wire.BOUNDARY}\r\nContent-Disposition: form-data; name="{field}"; '
            f'filename="{filename}"\r\nContent-Type: {content_type}\r\n\r\n'
        ).encode()
        + data
        + b"\r\n"
    )


def form(*parts: bytes) -> bytes:
    return b"".join(parts) + f"--{wire.BOUNDARY}--\r\n".encode()


def bodies() -> dict[str, bytes]:
    """The multipart body of each kind of upload (the floods and GETs have none)."""
    jpeg = encoded((320, 240), "JPEG")
    png = encoded((160, 120), "PNG")
    text_field = (
        f'--{wire.BOUNDARY}\r\nContent-Disposition: form-data; name="note"\r\n\r\nhello\r\n'
    ).encode()
    return {
        "jpeg": form(part(jpeg, "image/jpeg", "cat.jpg")),
        "png": form(part(png, "image/png", "cat.png")),
        "webp": form(part(encoded((160, 120), "WEBP"), "image/webp", "cat.webp")),
        "bomb": form(part(photos.png_bomb(), "image/png", "bomb.png")),
        "png_as_jpeg": form(part(png, "image/jpeg", "cat.jpg")),
        "html_as_png": form(part(photos.html_page(), "image/png", "page.png")),
        "truncated_jpeg": form(part(jpeg[: len(jpeg) // 2], "image/jpeg", "cut.jpg")),
        "empty": form(part(b"", "image/png", "empty.png")),
        "gif": form(part(encoded((32, 32), "GIF", "P"), "image/gif", "a.gif")),
        "no_file": form(text_field),
        "two_files": form(part(jpeg, "image/jpeg", "a.jpg"), part(jpeg, "image/jpeg", "b.jpg")),
        "greedy": form(part(photos.tiny_jpeg(), "image/jpeg", "tiny.jpg")),
    }


@dataclass(frozen=True)
class Answer:
    kind: str
    ip: str
    status: int
    code: str
    request_id: str


def send(url: str, kind: str, ip: str, prepared: dict[str, bytes]) -> Answer:
    headers = {"X-Forwarded-For": ip}
    if kind.startswith("over_cap"):
        flood = wire.flood(
            url, OVER_CAP, declare_length=kind.endswith("declared"), headers=headers
        )
        return Answer(
            kind,
            ip,
            flood.status,
            "file_too_large" if flood.status == 413 else "?",
            flood.request_id,
        )
    if kind == "get":
        return _get(url, ip)
    reply = wire.post(url, prepared[kind], headers=headers)
    code = "ok" if reply.status == HTTPStatus.OK else reply.json().get("code", "?")
    return Answer(kind, ip, reply.status, code, reply.request_id)


def _get(url: str, ip: str) -> Answer:
    parsed = urlparse(url)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
    try:
        conn.request("GET", wire.ANALYZE, headers={"X-Forwarded-For": ip})
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    import json

    code = json.loads(body).get("code", "?")
    return Answer("get", ip, response.status, code, response.getheader("X-Request-ID", ""))


def work_list() -> list[tuple[str, str]]:
    """(kind, client address) for every request, in a fixed shuffled order."""
    rng = random.Random(20)
    ordinary = [kind for kind, (count, _, _) in PLAN.items() for _ in range(count)]
    rng.shuffle(ordinary)
    items = [(kind, ORDINARY_IPS[i % len(ORDINARY_IPS)]) for i, kind in enumerate(ordinary)]
    items += [("greedy", GREEDY_IP)] * GREEDY_REQUESTS
    rng.shuffle(items)
    return items


def run_load(url: str, items: list[tuple[str, str]]) -> tuple[list[Answer], list[str]]:
    """Send every item from CLIENTS threads; the answers and any client-side failure."""
    prepared = bodies()
    todo: queue.Queue = queue.Queue()
    for item in items:
        todo.put(item)
    answers: list[Answer] = []
    failures: list[str] = []
    lock = threading.Lock()

    def client() -> None:
        while True:
            try:
                kind, ip = todo.get_nowait()
            except queue.Empty:
                return
            try:
                answer = send(url, kind, ip, prepared)
            except Exception as exc:  # a dropped connection or a timeout is a failure
                with lock:
                    failures.append(f"{kind} from {ip}: {exc!r}")
                continue
            with lock:
                answers.append(answer)

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers, failures


@pytest.fixture
def load_server(exported_model, require_postgres, require_redis, monkeypatch):
    """Gunicorn with WORKERS workers on a fresh PostgreSQL database and Redis db 5."""
    monkeypatch.setenv("DATABASE_URL", require_postgres)
    redis_url = require_redis.rsplit("/", 1)[0] + f"/{REDIS_DB}"
    redis.Redis.from_url(redis_url).flushdb()
    env = {
        "REDIS_URL": redis_url,
        "TRUSTED_PROXIES": "127.0.0.1/32",
        "RATE_LIMIT_PER_IP": f"{RATE}/m",
        "LOG_LEVEL": "WARNING",
    }
    with gunicorn_server(env=env, workers=WORKERS) as server:
        yield server


def _accounted_for(answers, database_url: str) -> bool:
    try:
        assert_audit_accounts_for(answers, load_rows(audit_rows(database_url)))
    except AssertionError:
        return False
    return True


def audit_rows(database_url: str) -> list[tuple]:
    """The audit trail as (request_id, client_ip, status, outcome, count, aggregate_key)."""
    rows = database_rows(
        database_url,
        "SELECT request_id, client_ip, status, outcome, count, aggregate_key "
        "FROM inference_api_auditlog",
    )
    return [(r[0], str(r[1]), *r[2:]) for r in rows]


def load_rows(rows: list[tuple]) -> list[tuple]:
    """Rows of the load's clients: without the launcher's start-up probes from 127.0.0.1."""
    probes = [r for r in rows if r[1] == "127.0.0.1"]
    assert all(r[3] == "method_not_allowed" for r in probes), probes
    return [r for r in rows if r[1] != "127.0.0.1"]


def test_2000_mixed_requests_get_documented_answers_and_are_each_audited_once(load_server):
    items = work_list()
    answers, failures = run_load(load_server.url, items)

    assert failures == []
    assert len(answers) == len(items) == 2000
    statuses = Counter(a.status for a in answers)
    assert set(statuses) <= DOCUMENTED and not any(s >= 500 for s in statuses), statuses
    for answer in answers:
        if answer.kind != "greedy":
            _, status, code = PLAN[answer.kind]
            assert (answer.status, answer.code) == (status, code), answer
    greedy = Counter(a.status for a in answers if a.kind == "greedy")
    assert greedy[HTTPStatus.TOO_MANY_REQUESTS] > 0 and greedy[HTTPStatus.OK] > 0, greedy
    assert set(greedy) <= {HTTPStatus.OK, HTTPStatus.TOO_MANY_REQUESTS}
    ids = [a.request_id for a in answers]
    assert all(ids) and len(set(ids)) == len(ids), "every answer carries its own request id"

    url = load_server.env["DATABASE_URL"]
    eventually(lambda: _accounted_for(answers, url))  # rows are written after each answer
    rows = load_rows(audit_rows(url))
    assert_audit_accounts_for(answers, rows)


def assert_audit_accounts_for(answers: list[Answer], rows: list[tuple]) -> None:
    """One row per individually audited request; aggregated counts equal per client."""
    single = {a.request_id: a for a in answers if a.code not in AGGREGATED}
    row_ids = Counter(r[0] for r in rows if r[5] is None)
    assert [rid for rid, n in row_ids.items() if n > 1] == [], "duplicated audit rows"
    assert set(row_ids) == set(single), (
        f"missing: {len(set(single) - set(row_ids))}, unknown: {len(set(row_ids) - set(single))}"
    )
    for request_id, client_ip, status, outcome, count, _ in (r for r in rows if r[5] is None):
        answer = single[request_id]
        assert (client_ip, status, outcome, count) == (answer.ip, answer.status, answer.code, 1)

    expected = Counter((a.code, a.ip) for a in answers if a.code in AGGREGATED)
    counted: dict[tuple[str, str], int] = defaultdict(int)
    for request_id, client_ip, _, outcome, count, _ in (r for r in rows if r[5] is not None):
        counted[(outcome, client_ip)] += count
        assert request_id in {a.request_id for a in answers if a.code == outcome}
    assert dict(counted) == dict(expected)
    assert sum(r[4] for r in rows) == len(answers)
