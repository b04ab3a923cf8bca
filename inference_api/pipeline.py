"""A request to the API, top to bottom.

    1. admit the client     admission.gate.admit_client: blocklist, API key, rate limit
    2. cap the body         upload.body: the declared size, then the stream, never past the cap
    3. check the upload     upload.form (one file, nothing else), upload.checks (type, bytes, name)
    4. decode               in a decoder process the kernel bounds (sandbox, imaging)
    5. classify             analyze.analyze: the model, the inference slot, the metrics
    6. answer               views.AnalyzeView (success), exceptions.error_response (any refusal)
    7. audit                audit.trail.audit: the request's one row, whatever the outcome,
                            written once the answer is sent

Steps 1, 2 and 7 run here, for every request under the API prefix whatever
its method or path; steps 3 to 6 run in the view, which Django calls in
between. Each step returns what it learned as a value (inference_api.facts)
and the next takes it; a refusal is an ApiError carrying what was learned
before it. The answer carries the view's values back here, where the audit
step gets them all with the outcome.
"""

import logging
import time
import uuid
from collections.abc import Callable
from http import HTTPStatus

from django.http import HttpRequest, HttpResponse

from . import errors
from .admission.clients import client_ip
from .admission.gate import admit_client
from .admission.ratelimits import ratelimit_fields
from .audit import inflight
from .audit.trail import OPTIONS_OUTCOME, audit
from .exceptions import answered_error, error_response
from .facts import Admission, Arrival, Outcome, Story
from .operations import metrics
from .operations.logging import current_request_id
from .upload.body import cap_body
from .views import answered_analysis

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
        arrival = Arrival.of(request, client_ip=client_ip(request))
        inflight.begin(arrival)
        admission = Admission()
        try:
            admission = admit_client(request, arrival)
            # The view answers with the plan's output policy.
            request.api_admission = admission
            if request.method == "OPTIONS":
                response = _options_answer()
            else:
                if request.method == "POST":
                    cap_body(request)
                response = self.get_response(request)
        except errors.ApiError as exc:
            admission = exc.admission or admission
            response = error_response(request, exc)
        for name, value in ratelimit_fields(admission.tally).items():
            response[name] = value
        seconds = time.perf_counter() - started
        story = _story(arrival, admission, request.method, response, seconds)
        # The server closes the answer once its last byte is sent: the log line,
        # the metrics and the audit row cost the worker, not the client's wait.
        # A worker that dies before then still leaves the in-flight record.
        response._resource_closers.append(lambda: _record(story))
        return response


def _record(story: Story) -> None:
    """Step 7, after the answer: the log line, the metrics, the audit row."""
    token = current_request_id.set(story.arrival.request_id)
    try:
        _log(story)
        metrics.observe_request(story)
        audit(story)
    finally:
        current_request_id.reset(token)
        inflight.end()


def _options_answer() -> HttpResponse:
    """The empty answer to OPTIONS (a CORS preflight); CorsMiddleware, outside, adds its headers."""
    return HttpResponse(status=HTTPStatus.OK, headers={"Allow": "POST, OPTIONS"})


def _story(
    arrival: Arrival, admission: Admission, method: str, response: HttpResponse, seconds: float
) -> Story:
    """What the steps learned, from the answer they gave, and how the request ended."""
    status = response.status_code
    error = answered_error(response)
    analysis = answered_analysis(response)
    if error is not None:
        outcome = Outcome(error.code, status, error.flagged)
        received, examined, classified = error.received, error.examined, None
    elif analysis is not None:
        outcome = Outcome("ok", status)
        received, examined = analysis.received, analysis.examined
        classified = analysis.classified
    else:
        if method == "OPTIONS":
            code = OPTIONS_OUTCOME
        else:
            code = "ok" if status < HTTPStatus.BAD_REQUEST else f"http_{status}"
        outcome = Outcome(code, status)
        received = examined = classified = None
    return Story(
        arrival=arrival,
        outcome=outcome,
        latency_ms=seconds * 1000,
        admission=admission,
        received=received,
        examined=examined,
        classified=classified,
    )


def _log(story: Story) -> None:
    arrival, outcome = story.arrival, story.outcome
    logger.info(
        "%s %s %s %.1fms",
        arrival.client_ip,
        outcome.status,
        outcome.code,
        story.latency_ms,
        extra={
            "client_ip": arrival.client_ip,
            "status": outcome.status,
            "outcome": outcome.code,
            "latency_ms": round(story.latency_ms, 1),
            "bytes_received": story.received.size if story.received else 0,
        },
    )
