"""GET /metrics: the API's Prometheus metrics (operations/metrics.py), for allowed clients.

Under gunicorn, each worker is a process with its own counters; in
multiprocess mode (PROMETHEUS_MULTIPROC_DIR) the scrape sums every worker's
files, whichever worker answers.

/metrics is not public: the client (as resolved through TRUSTED_PROXIES) must
be in METRICS_ALLOWED_NETWORKS, or send `Authorization: Bearer <METRICS_TOKEN>`.
"""

import hmac
import ipaddress

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)

from .. import errors
from ..admission.clients import client_ip
from ..exceptions import error_response
from ..operations.metrics import MULTIPROC_DIR


def registry() -> CollectorRegistry:
    """All workers' metrics in multiprocess mode; this process's otherwise."""
    if not MULTIPROC_DIR:
        return REGISTRY
    collected = CollectorRegistry()
    multiprocess.MultiProcessCollector(collected)
    return collected


def metrics_allowed(request: HttpRequest) -> bool:
    """Whether this client may read the metrics: trusted network, or the bearer token."""
    token = settings.METRICS_TOKEN
    if token:
        sent = request.headers.get("Authorization", "")
        if hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
            return True
    try:
        address = ipaddress.ip_address(client_ip(request))
    except ValueError:
        return False
    return any(
        address in ipaddress.ip_network(cidr, strict=False)
        for cidr in settings.METRICS_ALLOWED_NETWORKS
    )


@never_cache
@require_safe
def metrics_view(request: HttpRequest) -> HttpResponse:
    """GET /metrics in Prometheus' text format, for allowed clients only (403 otherwise)."""
    if not metrics_allowed(request):
        return error_response(request, errors.MetricsForbidden())
    return HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)
