"""Middleware of the API boundary: request ids, the audit trail, the byte cap."""

import logging
import time
import uuid
from collections.abc import Callable
from http import HTTPStatus

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from . import errors, inflight, metrics
from .clients import client_ip
from .exceptions import error_response
from .guards import guard_client
from .logging import current_request_id
from .records import OPTIONS_OUTCOME, RequestRecord
from .uploadhandlers import cap_unsized_body

logger = logging.getLogger("inference_api.requests")

API_PREFIX = "/api/v1/"
USER_AGENT_MAX = 256

Handler = Callable[[HttpRequest], HttpResponse]


def is_api_request(request: HttpRequest) -> bool:
    """Whether the request is routed to the API.

    `path_info` is what the URL resolver routes on; `path` also carries the
    SCRIPT_NAME prefix, so a decision on it would not see the same request
    the router sees.
    """
    return request.path_info.startswith(API_PREFIX)


class RequestIdMiddleware:
    """Gives every request a fresh id, for the response header and the logs.

    The client's own X-Request-ID is not trusted: ids must be unique to tie a
    response to its log line.
    """

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.request_id = uuid.uuid4().hex
        token = current_request_id.set(request.request_id)
        try:
            response = self.get_response(request)
        finally:
            current_request_id.reset(token)
        response["X-Request-ID"] = request.request_id
        return response


class AuditMiddleware:
    """Writes one audit entry for every request under the API prefix.

    It sits outside the view, so refusals decided before the view runs
    (declared size, unknown method, crashes turned into 500) are audited too.
    """

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not is_api_request(request):
            return self.get_response(request)
        started = time.perf_counter()
        record = RequestRecord(
            request_id=request.request_id,
            client_ip=client_ip(request),
            path=request.path_info[:200],
            user_agent=request.headers.get("User-Agent", "")[:USER_AGENT_MAX],
            declared_content_type=request.headers.get("Content-Type", "")[:100],
        )
        request.api_record = record
        inflight.begin(record)
        response = self.get_response(request)
        latency_ms = (time.perf_counter() - started) * 1000
        if not record.outcome:
            record.outcome = "ok" if response.status_code < 400 else f"http_{response.status_code}"
        _log_request(record, response.status_code, latency_ms)
        metrics.observe_request(record, response.status_code, latency_ms)
        from .services import audit_request  # the models are not ready at import time

        audit_request(record=record, status=response.status_code, latency_ms=latency_ms)
        inflight.end()
        return response


def _log_request(record: RequestRecord, status: int, latency_ms: float) -> None:
    logger.info(
        "%s %s %s %.1fms",
        record.client_ip,
        status,
        record.outcome,
        latency_ms,
        extra={
            "client_ip": record.client_ip,
            "status": status,
            "outcome": record.outcome,
            "latency_ms": round(latency_ms, 1),
            "bytes_received": record.bytes_received,
        },
    )


class UploadLimitMiddleware:
    """Steps 1 and 2 of the request flow for API requests, before the body is read.

    First who may call and how often (the blocklist, the API key, the rate
    limit), for every method, so that refused uploads, wrong keys, OPTIONS
    and wrong methods all count against a client's limit; an OPTIONS request
    is then answered here, empty (CorsMiddleware, outside, adds its headers).
    Then the declared Content-Length of a POST against the cap, so an honest
    oversized upload costs nothing. A body without a Content-Length
    (chunked) or one that lies is stopped while streaming by the upload handler.
    """

    # Room for the multipart boundaries and the part headers around the file.
    ENVELOPE_BYTES = 16 * 1024

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not is_api_request(request):
            return self.get_response(request)
        try:
            guard_client(request, request.api_record)
        except errors.ApiError as exc:
            return error_response(request, exc)
        if request.method == "OPTIONS":
            request.api_record.outcome = OPTIONS_OUTCOME
            return HttpResponse(status=HTTPStatus.OK, headers={"Allow": "POST, OPTIONS"})
        if request.method == "POST":
            if self._declared_too_large(request):
                return error_response(request, errors.FileTooLarge())
            cap_unsized_body(request, settings.MAX_UPLOAD_BYTES + self.ENVELOPE_BYTES)
        return self.get_response(request)

    def _declared_too_large(self, request: HttpRequest) -> bool:
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return False
        return declared > settings.MAX_UPLOAD_BYTES + self.ENVELOPE_BYTES
