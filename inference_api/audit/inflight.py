"""The request a server process is serving, kept where its master can read it if the process dies.

The audit row of a request is written when its answer is decided; a worker
that is killed first (gunicorn's timeout, the kernel's OOM killer, a crash)
would leave no trace of the request that killed it. So each worker keeps
the arrival of its current request in a small file on a memory-backed
folder (one `pwrite` when a request starts, one `ftruncate` when it ends),
and gunicorn's master, told that the worker exited (`child_exit`), hands
what it finds there to the audit step: outcome `worker_died`, status 500.

Off (every call a no-op) until `enable` is called, which gunicorn's
`post_fork` hook does; `manage.py runserver` and tests do not use it.
"""

import json
import logging
import os
from dataclasses import asdict, fields
from http import HTTPStatus
from pathlib import Path

from .. import outcomes
from ..context import Arrival, Outcome, RequestRecord

logger = logging.getLogger(__name__)

WORKER_DIED = Outcome(code=outcomes.WORKER_DIED, status=HTTPStatus.INTERNAL_SERVER_ERROR)

_fd: int | None = None


def folder_for(master_pid: int, base: Path) -> Path:
    """The folder one gunicorn master and its workers share."""
    return base / f"inference-api-inflight-{master_pid}"


def path_for(folder: Path, worker_pid: int) -> Path:
    return folder / f"{worker_pid}.json"


def enable(folder: Path) -> None:
    """Start recording this process's current request in `folder` (gunicorn's post_fork)."""
    global _fd
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    _fd = os.open(path_for(folder, os.getpid()), os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)


def begin(arrival: Arrival) -> None:
    """Note `arrival` as the request being served; never raises."""
    if _fd is None:
        return
    try:
        data = json.dumps(asdict(arrival)).encode()
        os.pwrite(_fd, data, 0)
        os.ftruncate(_fd, len(data))
    except (OSError, TypeError, ValueError) as exc:
        logger.warning("Could not note the request in flight: %s", exc)


def end() -> None:
    """The request's own audit row is written: nothing is in flight any more."""
    if _fd is None:
        return
    try:
        os.ftruncate(_fd, 0)
    except OSError as exc:
        logger.warning("Could not clear the request in flight: %s", exc)


def take(folder: Path, worker_pid: int) -> RequestRecord | None:
    """The record of the request a dead worker left (its file removed), or None when it was idle."""
    path = path_for(folder, worker_pid)
    try:
        raw = path.read_bytes()
        path.unlink()
    except FileNotFoundError:
        return None
    if not raw:
        return None
    try:
        values = json.loads(raw)
    except ValueError:
        logger.error("Unreadable in-flight record of worker %s: %r", worker_pid, raw[:200])
        return None
    known = {f.name for f in fields(Arrival)}
    try:
        arrival = Arrival(**{k: v for k, v in values.items() if k in known})
    except TypeError:
        logger.error("Incomplete in-flight record of worker %s: %r", worker_pid, raw[:200])
        return None
    return RequestRecord(arrival=arrival, outcome=WORKER_DIED)
