"""Generic error bodies to clients, the full story in the log, tied by the request id.

This module doubles as a test-only URLconf: views that crash, under the API
prefix (so the audit middleware sees them) and outside it.
"""

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from http import HTTPStatus

import pytest
from django.http import HttpRequest
from django.test import Client
from django.urls import path
from rest_framework.views import APIView

from inference_api import errors
from inference_api.models import AuditLog
from inference_api.operations.logging import RequestIdFilter

pytestmark = pytest.mark.django_db

SECRET_DETAIL = "db password is hunter2 at /srv/secret/path"
GENERIC = "Internal error"


def crashing_view(request: HttpRequest):
    raise RuntimeError(SECRET_DETAIL)


class CrashingApiView(APIView):
    def post(self, request):
        raise KeyError(SECRET_DETAIL)


urlpatterns = [
    path("api/v1/crash/", crashing_view),
    path("api/v1/crash-drf/", CrashingApiView.as_view()),
    path("plain/crash/", crashing_view),
]
handler404 = "inference_api.exceptions.handler404"
handler500 = "inference_api.exceptions.handler500"


@contextmanager
def server_log() -> Iterator[io.StringIO]:
    """What the configured console handler writes (the real format, request id included)."""
    handlers = [
        handler
        for handler in logging.getLogger().handlers
        if any(isinstance(f, RequestIdFilter) for f in handler.filters)
    ]
    assert handlers, "LOGGING must give a root handler the request-id filter"
    stream = io.StringIO()
    previous = [handler.setStream(stream) for handler in handlers]
    try:
        yield stream
    finally:
        for handler, old in zip(handlers, previous, strict=True):
            handler.setStream(old)


@pytest.fixture
def crash_client(settings) -> Client:
    settings.ROOT_URLCONF = __name__
    settings.DEBUG = False
    return Client(raise_request_exception=False)


def assert_generic_500(response) -> str:
    assert response.status_code == HTTPStatus.INTERNAL_SERVER_ERROR
    request_id = response["X-Request-ID"]
    assert response.json() == {"error": GENERIC, "code": "internal_error", "request_id": request_id}
    assert SECRET_DETAIL not in response.content.decode()
    return request_id


@pytest.mark.parametrize(
    ("method", "url", "exception"),
    [
        ("get", "/api/v1/crash/", "RuntimeError"),
        ("post", "/api/v1/crash-drf/", "KeyError"),
        ("get", "/plain/crash/", "RuntimeError"),
    ],
)
def test_a_crash_answers_the_generic_body_and_logs_the_traceback_with_its_id(
    crash_client, method, url, exception
):
    with server_log() as log:
        response = getattr(crash_client, method)(url)
    request_id = assert_generic_500(response)
    lines = log.getvalue()
    assert "Traceback (most recent call last)" in lines
    assert f"{exception}: " in lines and SECRET_DETAIL in lines
    error_lines = [line for line in lines.splitlines() if " ERROR " in line]
    assert error_lines, lines
    assert all(f"[{request_id}]" in line for line in error_lines)


def test_a_crash_is_audited_as_internal_error(crash_client):
    response = crash_client.get("/api/v1/crash/")
    entry = AuditLog.objects.get()
    assert entry.request_id == response["X-Request-ID"]
    assert entry.status == HTTPStatus.INTERNAL_SERVER_ERROR
    assert entry.outcome == "internal_error"


def test_each_request_gets_its_own_id_and_a_client_cannot_choose_it(crash_client):
    first = crash_client.get("/api/v1/crash/", headers={"X-Request-ID": "chosen"})
    second = crash_client.get("/api/v1/crash/")
    assert first["X-Request-ID"] != "chosen"
    assert first["X-Request-ID"] != second["X-Request-ID"]


@pytest.mark.parametrize("path", ["/no/such/page", "/api/v1/nothing-here/"])
def test_an_unknown_path_is_a_json_404(client, settings, path):
    settings.DEBUG = False
    response = client.get(path)
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.json() == {
        "error": errors.NotFound.message,
        "code": "not_found",
        "request_id": response["X-Request-ID"],
    }


def test_a_wrong_method_on_the_api_is_a_json_405(client):
    response = client.get("/api/v1/analyze/")
    assert response.status_code == HTTPStatus.METHOD_NOT_ALLOWED
    body = response.json()
    assert body == {
        "error": body["error"],
        "code": "method_not_allowed",
        "request_id": response["X-Request-ID"],
    }


@pytest.mark.parametrize("accept", ["text/html", "image/png", "application/xml;q=1, text/*"])
def test_an_accept_header_json_cannot_satisfy_is_a_json_406(client, accept):
    response = client.post("/api/v1/analyze/", {}, HTTP_ACCEPT=accept)
    assert response.status_code == HTTPStatus.NOT_ACCEPTABLE
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "error": errors.NotAcceptable.message,
        "code": "not_acceptable",
        "request_id": response["X-Request-ID"],
    }
    assert AuditLog.objects.get().outcome == "not_acceptable"


def test_the_rate_limit_refusals_follow_the_contract(client, settings):
    settings.RATE_LIMIT_PER_IP = "1/m"
    client.post("/api/v1/analyze/", {})
    response = client.post("/api/v1/analyze/", {})
    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert response.json() == {
        "error": errors.RateLimited.message,
        "code": "rate_limited",
        "request_id": response["X-Request-ID"],
    }
    assert 1 <= int(response["Retry-After"]) <= 61
