"""The request log line: JSON in production, readable text in development.

The formats are the ones in settings.LOGGING; each profile's choice is read
from the real settings module, imported in a child process with its own env.
"""

import io
import json
import logging
import os
import subprocess
import sys
from http import HTTPStatus

import pytest
from django.conf import settings
from pythonjsonlogger.json import JsonFormatter

from inference_api.operations.logging import RequestIdFilter

REQUEST_LOGGER = "inference_api.requests"


def formatter_of(profile: str, **env: str) -> str:
    """The console formatter a settings profile picks, as that process sees it."""
    code = (
        f"import config.settings.{profile} as s; "
        "print(s.LOGGING['handlers']['console']['formatter'])"
    )
    clean = {k: v for k, v in os.environ.items() if k not in {"LOG_FORMAT", "DEBUG"}}
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**clean, "SECRET_KEY": "log-format-test-key-0123456789", **env},
        capture_output=True,
        text=True,
        check=True,
        cwd=settings.BASE_DIR,
    )
    return result.stdout.strip()


def test_production_logs_json_and_development_logs_text():
    assert formatter_of("production") == "json"
    assert formatter_of("local") == "text"


@pytest.fixture
def request_log():
    """What the request logger writes, with a formatter chosen by the test."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger(REQUEST_LOGGER)
    logger.addHandler(handler)
    yield stream, handler
    logger.removeHandler(handler)


@pytest.mark.django_db
def test_the_json_format_gives_one_line_per_request_with_its_facts(client, request_log):
    stream, handler = request_log
    handler.setFormatter(JsonFormatter(settings.LOGGING["formatters"]["json"]["fmt"]))
    response = client.post("/api/v1/analyze/", {"note": "no file"}, REMOTE_ADDR="192.0.2.10")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    [line] = stream.getvalue().splitlines()
    entry = json.loads(line)
    assert entry["request_id"] == response["X-Request-ID"]
    assert entry["client_ip"] == "192.0.2.10"
    assert entry["outcome"] == response.json()["code"]
    assert entry["status"] == HTTPStatus.BAD_REQUEST
    assert entry["latency_ms"] >= 0


@pytest.mark.django_db
def test_the_text_format_is_one_readable_line(client, request_log):
    stream, handler = request_log
    handler.setFormatter(logging.Formatter(settings.LOGGING["formatters"]["text"]["format"]))
    response = client.post("/api/v1/analyze/", {"note": "no file"}, REMOTE_ADDR="192.0.2.10")
    [line] = stream.getvalue().splitlines()
    assert not line.startswith("{")
    assert f"INFO {REQUEST_LOGGER} [{response['X-Request-ID']}] 192.0.2.10 400" in line
    assert response.json()["code"] in line and line.endswith("ms")
