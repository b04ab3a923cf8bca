"""Liveness and readiness probes for the orchestrator and the container.

`/healthz` says only that the process answers; it touches nothing else, so a
dead database never gets the process killed and restarted for nothing.
`/readyz` says whether this process can serve the API: the model is loaded,
the database and the cache answer, a decoder process is up. Failures are logged with their detail;
the client is told only which part failed.
"""

import logging
import uuid
from collections.abc import Callable

from django.core.cache import caches
from django.db import connections
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from analysis.errors import ModelUnavailable
from analysis.model_store import get_model

from .. import errors
from ..operations.logging import current_request_id

logger = logging.getLogger(__name__)


def check_model() -> None:
    """Loads the model if this process has not yet (retries are rate-limited there)."""
    get_model()


def check_database() -> None:
    """A round trip to the default database."""
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def check_cache() -> None:
    """A write and a read on the shared cache that holds the rate-limit counters."""
    cache = caches["ratelimit"]
    key = f"readyz:{uuid.uuid4().hex}"
    cache.set(key, "1", timeout=5)
    if cache.get(key) != "1":
        raise RuntimeError("the cache did not return what was just written")
    cache.delete(key)


def check_decoder() -> None:
    """A decoder process of this server process is started and ready for an upload."""
    from ..sandbox import current_pool

    current_pool().ready(timeout=DECODER_READY_SECONDS)


DECODER_READY_SECONDS = 5.0
CHECKS: dict[str, Callable[[], None]] = {
    "model": check_model,
    "database": check_database,
    "cache": check_cache,
    "decoder": check_decoder,
}


def run_checks() -> dict[str, bool]:
    """Each check's name and whether it passed; every check runs, whatever failed before."""
    results = {}
    for name, check in CHECKS.items():
        try:
            check()
        except ModelUnavailable as exc:
            logger.warning("Readiness: model unavailable: %s", exc)
            results[name] = False
        except Exception:
            logger.warning("Readiness: %s check failed", name, exc_info=True)
            results[name] = False
        else:
            results[name] = True
    return results


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """200 as long as the process can answer a request."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    """200 when model, database and cache are all usable; 503 naming what is not."""
    results = run_checks()
    checks = {name: "ok" if passed else "failed" for name, passed in results.items()}
    failed = [name for name, passed in results.items() if not passed]
    if not failed:
        return JsonResponse({"status": "ready", "checks": checks})
    not_ready = errors.NotReady(f"Not ready: {', '.join(failed)}.")
    body = {
        "error": not_ready.message,
        "code": not_ready.code,
        "request_id": current_request_id.get(),
        "checks": checks,
        "failed": failed,
    }
    return JsonResponse(body, status=not_ready.status)
