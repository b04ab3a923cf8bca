"""Steady load on the analyze endpoint, and what each answer was.

`SteadyLoad` runs a few client threads that upload one small JPEG after
another through the proxy until stopped, each request from the next
address of 127.0.1.0/24 (all loopback), so no client reaches a rate limit
whatever the test's length. Every answer is kept as an `Answer`;
`Tally` sorts them the way the multi-host test judges them: answered
(200 with predictions), refused by the proxy with a retryable status (503
`service_unavailable` with Retry-After, nginx's answer when no replica
could take the request), or failed (anything else, a dropped connection
included).
"""

import io
import itertools
import threading
import time
from dataclasses import dataclass, field

from PIL import Image

from .http import multipart, post

LOAD_ADDRESSES = [f"127.0.1.{i}" for i in range(1, 255)]
RETRYABLE_CODE = "service_unavailable"


def small_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (96, 64), (200, 120, 40)).save(buffer, "JPEG")
    return buffer.getvalue()


@dataclass(frozen=True)
class Answer:
    """One request as its client saw it."""

    started: float
    ended: float
    status: int
    code: str = ""
    model_version: str = ""
    request_id: str = ""
    retry_after: str = ""
    error: str = ""

    @property
    def answered(self) -> bool:
        return self.status == 200 and bool(self.model_version)

    @property
    def refused_retryable(self) -> bool:
        return self.status == 503 and self.code == RETRYABLE_CODE and bool(self.retry_after)

    @property
    def failed(self) -> bool:
        return not (self.answered or self.refused_retryable)


def send(url: str, body: bytes, source: str) -> Answer:
    """One upload from `source`; a connection error is an Answer with status 0."""
    started = time.monotonic()
    try:
        reply = post(url, body, source=source, timeout=60)
    except OSError as exc:
        return Answer(started, time.monotonic(), 0, error=repr(exc))
    ended = time.monotonic()
    try:
        payload = reply.json()
    except ValueError:
        payload = {}
    return Answer(
        started,
        ended,
        reply.status,
        code=payload.get("code", ""),
        model_version=(payload.get("model") or {}).get("version", "")
        if payload.get("predictions")
        else "",
        request_id=reply.request_id,
        retry_after=reply.headers.get("Retry-After", ""),
    )


@dataclass
class Tally:
    """Counts of a set of answers."""

    answers: list[Answer] = field(default_factory=list)

    @property
    def sent(self) -> int:
        return len(self.answers)

    @property
    def answered(self) -> int:
        return sum(a.answered for a in self.answers)

    @property
    def refused(self) -> int:
        return sum(a.refused_retryable for a in self.answers)

    @property
    def failed(self) -> list[Answer]:
        return [a for a in self.answers if a.failed]

    def versions(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for answer in self.answers:
            if answer.answered:
                counts[answer.model_version] = counts.get(answer.model_version, 0) + 1
        return counts

    def between(self, start: float, end: float) -> "Tally":
        """The answers to requests sent in [start, end)."""
        return Tally([a for a in self.answers if start <= a.started < end])


class SteadyLoad:
    """`clients` threads uploading back to back (with `pause` s between) until stop()."""

    def __init__(self, url: str, clients: int = 2, pause: float = 0.05) -> None:
        self.url, self.clients, self.pause = url, clients, pause
        self.body = multipart(small_jpeg(), "image/jpeg", "steady.jpg")
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._sources = itertools.cycle(LOAD_ADDRESSES)
        self._answers: list[Answer] = []
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                source = next(self._sources)
            answer = send(self.url, self.body, source)
            with self._lock:
                self._answers.append(answer)
            self._stop.wait(self.pause)

    def __enter__(self) -> "SteadyLoad":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> Tally:
        """Stops the clients after their current request; every answer so far."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=90)
        return self.tally()

    def tally(self) -> Tally:
        with self._lock:
            return Tally(list(self._answers))
