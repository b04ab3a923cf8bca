"""A request to the API, top to bottom.

    1. admit the client     admission.gate.admit_client: blocklist, API key, rate limit
    2. cap the body         upload.body: the declared size, then the stream, never past the cap
    3. check the upload     upload.form (one file, nothing else), upload.checks (type, bytes, name)
    4. decode               in a decoder process the kernel bounds (sandbox, imaging)
    5. classify             classifier.classify_upload: the model, the inference slot, the metrics
    6. answer               views.AnalyzeView (success), exceptions.error_response (any refusal)
    7. audit                audit.trail.audit: the request's one row, whatever the outcome,
                            written once the answer is sent

Steps 1, 2 and 7 run here, for every request under the API prefix whatever
its method or path; steps 3 to 6 run in the view, which Django calls in
between. The request's context (`request.api`, a `context.ApiContext`)
is created here; each step hands it its frozen value, and a refusal is an
immutable ApiError carrying what the step that raised it knew, which
`error_response` hands to the same context. Once the answer is sent the
context is frozen into the `RequestRecord` the audit step writes.
"""

import logging
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from http import HTTPStatus

from django.core.signals import request_finished
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse

from . import errors, outcomes
from .admission.clients import client_ip
from .admission.gate import admit_client
from .admission.ratelimits import ratelimit_fields
from .audit import inflight
from .audit.trail import audit
from .context import ApiContext, Arrival, Outcome, RequestRecord
from .exceptions import error_response
from .operations import metrics
from .operations.logging import current_request_id
from .upload.body import cap_body

logger = logging.getLogger("inference_api.requests")

API_PREFIX = "/api/v1/"

Handler = Callable[[HttpRequest], HttpResponse]


def is_api_request(request: HttpRequest) -> bool:
    """Whether the request is routed to the API.

    `path_info` is what the URL resolver routes on; `path` also carries the
    SCRIPT_NAME prefix, so a decision on it would not see the same request
    the router sees.
    """
    return request.path_info.startswith(API_PREFIX)


# The finished API request whose record is written once its answer is sent.
unrecorded: ContextVar[RequestRecord | None] = ContextVar("unrecorded", default=None)


class RequestIdMiddleware:
    """Gives every request a fresh id, for the response header and the logs.

    The client's own X-Request-ID is not trusted: ids must be unique to tie a
    response to its log line. The id is `current_request_id`'s until the
    answer is sent: Django logs a 4xx or 5xx answer after the middleware
    has returned, and the audit step runs after that.
    """

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = uuid.uuid4().hex
        current_request_id.set(request_id)
        response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response


class ApiPipelineMiddleware:
    """The pipeline of every request under the API prefix (see the module's docstring).

    It sits outside the view, so refusals decided before the view runs
    (blocked, over the limit, declared too large, unknown path or method,
    crashes turned into 500) go through the same audit step as answers.
    """

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not is_api_request(request):
            return self.get_response(request)
        started = time.perf_counter()
        request_id = current_request_id.get()
        arrival = Arrival.of(request, request_id=request_id, client_ip=client_ip(request))
        inflight.begin(arrival)
        context = request.api = ApiContext(arrival)
        try:
            context.add(admit_client(request, arrival))
            if request.method == "OPTIONS":
                response = _options_answer()
            else:
                if request.method == "POST":
                    cap_body(request)
                response = self.get_response(request)
        except errors.ApiError as exc:
            response = error_response(request, exc)
        for name, value in ratelimit_fields(context.admission.tally).items():
            response[name] = value
        outcome = _outcome(context, request.method, response.status_code)
        # Written once the server has sent the answer's last byte and closed it
        # (`record_answered`): the log line, the metrics and the audit row cost
        # the worker, not the client's wait. A worker that dies before then
        # still leaves the in-flight record.
        unrecorded.set(context.record(outcome, (time.perf_counter() - started) * 1000))
        return response


@receiver(request_finished, dispatch_uid="inference_api.pipeline.record_answered")
def record_answered(**kwargs) -> None:
    """Step 7, once the answer is sent and closed: the log line, the metrics, the audit row."""
    record = unrecorded.get()
    if record is None:
        current_request_id.set("-")
        return
    unrecorded.set(None)
    current_request_id.set(record.arrival.request_id)
    try:
        _log(record)
        metrics.observe_request(record)
        audit(record)
    finally:
        current_request_id.set("-")
        inflight.end()


def _options_answer() -> HttpResponse:
    """The empty answer to OPTIONS (a CORS preflight); CorsMiddleware, outside, adds its headers."""
    return HttpResponse(status=HTTPStatus.OK, headers={"Allow": "POST, OPTIONS"})


def _outcome(context: ApiContext, method: str, status: int) -> Outcome:
    """How the request ended: its refusal, its classification, or its HTTP status."""
    if context.error is not None:
        return Outcome(context.error.code, status, context.error.flagged)
    if context.classified is not None:
        return Outcome(outcomes.OK, status)
    if method == "OPTIONS":
        return Outcome(outcomes.OPTIONS, status)
    if status < HTTPStatus.BAD_REQUEST:
        return Outcome(outcomes.OK, status)
    return Outcome(outcomes.http_status(status), status)


def _log(record: RequestRecord) -> None:
    arrival, outcome = record.arrival, record.outcome
    logger.info(
        "%s %s %s %.1fms",
        arrival.client_ip,
        outcome.status,
        outcome.code,
        record.latency_ms,
        extra={
            "client_ip": arrival.client_ip,
            "status": outcome.status,
            "outcome": outcome.code,
            "latency_ms": round(record.latency_ms, 1),
            "bytes_received": record.received.size if record.received else 0,
        },
    )
