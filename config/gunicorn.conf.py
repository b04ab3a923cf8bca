"""Gunicorn settings, read from the environment.

Gunicorn reads this file before Django's settings exist, so it reads its
variables itself with os.environ and parses them strictly (a malformed value
stops the server at start-up). A `--bind` or other flag on the command line
overrides what is set here.

The variables read here (GUNICORN_*, WEB_CONCURRENCY, TRUSTED_PROXIES,
PROMETHEUS_MULTIPROC_DIR), with their defaults and meaning, are listed in
config/environment.py, from which README's configuration table is made.
TRUSTED_PROXIES is the app's setting, read here too: only those peers may set
the scheme (X-Forwarded-Proto) at gunicorn's level (`forwarded_allow_ips`);
gunicorn's own FORWARDED_ALLOW_IPS is not used, so the two cannot disagree.

gunicorn never takes SCRIPT_NAME or PATH_INFO from a request header
(`forwarder_headers` is empty): a client, or a proxy that passes headers on,
must not choose how the path is split between prefix and route.
Sync workers are kept: a slow client holds one for as long as it dribbles,
so they are only safe behind the proxy, which holds slow clients instead.
`manage.py preflight` refuses a GUNICORN_BIND outside loopback without
TRUSTED_PROXIES (docs/deploy.md).
"""

import ipaddress
import logging
import os
import tempfile
from pathlib import Path

log = logging.getLogger("gunicorn.error")

TRUE_VALUES = {"1", "true", "yes", "on"}
FALSE_VALUES = {"0", "false", "no", "off", ""}


def _int(name: str, default: int, minimum: int = 0) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise SystemExit(f"{name} must be >= {minimum}, got {value}")
    return value


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value not in TRUE_VALUES | FALSE_VALUES:
        raise SystemExit(f"{name} must be true or false, got {raw!r}")
    return value in TRUE_VALUES


def _networks(name: str) -> str:
    """A comma-separated list of CIDRs, normalised for gunicorn (host bits cleared)."""
    raw = os.environ.get(name, "")
    try:
        networks = [
            ipaddress.ip_network(cidr.strip(), strict=False)
            for cidr in raw.split(",")
            if cidr.strip()
        ]
    except ValueError:
        raise SystemExit(f"{name} must be comma-separated CIDRs, got {raw!r}") from None
    return ",".join(str(network) for network in networks)


# numpy's OpenBLAS reads this when the app imports it, after this file: one
# thread, or a BLAS call leaves a thread spinning for work beside every request.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

# --- processes -----------------------------------------------------------------
bind = [os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")]
workers = _int("WEB_CONCURRENCY", 1, minimum=1)
threads = _int("GUNICORN_THREADS", 1, minimum=1)
worker_class = "gthread" if threads > 1 else "sync"
max_requests = _int("GUNICORN_MAX_REQUESTS", 0)
max_requests_jitter = max_requests // 10
preload_app = _bool("GUNICORN_PRELOAD", True)

# --- timeouts --------------------------------------------------------------------
timeout = _int("GUNICORN_TIMEOUT", 30, minimum=1)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30, minimum=1)
keepalive = _int("GUNICORN_KEEPALIVE", 5, minimum=0)

# --- request-head limits: refuse oversized heads before Django sees them ----------
limit_request_line = 4094
limit_request_fields = 50
limit_request_field_size = 8190

# --- proxy headers: believed from TRUSTED_PROXIES only, and never the path split ---
forwarded_allow_ips = _networks("TRUSTED_PROXIES")
forwarder_headers = ""

# --- files -------------------------------------------------------------------------
# The heartbeat file is touched constantly: keep it in memory, not on a disk
# that may be slow or (in the container) read-only.
# gunicorn creates its heartbeat file there with mkstemp (private, unique name).
worker_tmp_dir = "/dev/shm" if Path("/dev/shm").is_dir() else None  # noqa: S108
# The runtime control socket defaults to ~/.gunicorn/, which is not writable
# with a read-only root filesystem and is shared by every instance of a user.
control_socket_disable = True

# --- logs ----------------------------------------------------------------------------
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")


# --- hooks -----------------------------------------------------------------------------
def on_starting(server) -> None:
    """Installs the JSON error pages and the chunk bound (config/gunicorn_http.py) before
    any worker is forked; picks the in-flight folder; empties the shared metrics folder.
    """
    from config import gunicorn_http
    from inference_api.audit import inflight

    gunicorn_http.install()

    base = Path(worker_tmp_dir or tempfile.gettempdir())
    server.inflight_folder = inflight.folder_for(os.getpid(), base)
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not folder:
        return
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()


def _load_model(where: str) -> None:
    """Loads the model now so the first request does not pay for it.

    A missing or mismatched model is logged, not fatal: the server still
    starts, /readyz says 503 and the API answers 503 model_unavailable.
    """
    from analysis.errors import ModelUnavailable
    from analysis.model_store import get_model

    try:
        model = get_model()
    except ModelUnavailable as exc:
        log.warning("Model not loaded in the %s: %s", where, exc)
        return
    log.info("Model %s loaded in the %s", model.metadata.version, where)


def when_ready(server) -> None:
    """With preload_app, the app is imported in the master: load the model there too.

    The master loads (and warms up) the model on one thread: an OpenMP thread
    team started in the master does not survive fork(), and workers would hang
    on their first parallel inference. Each worker sets its own thread count
    after the fork (post_fork).
    """
    if not server.cfg.preload_app:
        return
    from django.conf import settings

    wanted = settings.TORCH_THREADS
    settings.TORCH_THREADS = 1
    try:
        _load_model("master")
    finally:
        settings.TORCH_THREADS = wanted
    _freeze_heap()


def _freeze_heap() -> None:
    """Moves everything the master built out of the garbage collector's reach.

    The workers inherit some 450k objects (Django, torch, the model); a full
    collection walking them pauses a request for ~250 ms (docs/decisions.md), and
    touching them would un-share their copy-on-write pages.
    """
    import gc

    gc.collect()
    gc.freeze()
    log.info("%d objects frozen in the master before forking", gc.get_freeze_count())


def post_fork(server, worker) -> None:
    """Sets a worker up: its TORCH_THREADS threads, its in-flight record, its decoders.

    The decoders start now (in the background), so the first upload does not
    wait for them.
    """
    from inference_api.audit import inflight
    from inference_api.sandbox import current_pool

    if server.cfg.preload_app:
        import torch
        from django.conf import settings

        torch.set_num_threads(settings.TORCH_THREADS)
    inflight.enable(server.inflight_folder)
    current_pool().warm()


def worker_exit(server, worker) -> None:
    """Stops the worker's decoder processes with it."""
    from inference_api.sandbox import close_pool

    close_pool()


def post_worker_init(worker) -> None:
    """Without preload_app, each worker loads its own copy once."""
    if not worker.cfg.preload_app:
        _load_model(f"worker {worker.pid}")


def child_exit(server, worker) -> None:
    """Audits the request a worker died serving; drops its live gauges from the metrics."""
    _audit_dead_worker(server, worker.pid)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def _audit_dead_worker(server, pid: int) -> None:
    """Writes the audit row of the request worker `pid` was serving when it ended, if any.

    Runs in the master. Its database connection is closed again at once: the
    workers forked after this must not inherit an open one.
    """
    from inference_api.audit import inflight

    record = inflight.take(server.inflight_folder, pid)
    if record is None:
        return
    log.error("Worker %s died serving request %s", pid, record.arrival.request_id)
    from django.db import connections

    import config.wsgi  # noqa: F401 - sets Django up in a master that did not preload
    from inference_api.audit.trail import audit

    try:
        audit(record)
    finally:
        connections.close_all()
