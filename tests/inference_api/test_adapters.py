"""Where the app mirrors or hooks a library's behaviour, a test that fails if the library moves.

The app uses no private name of another library (tests/test_architecture.py);
these pin the public behaviour it relies on instead.
"""

import io
from http import HTTPStatus

import pytest
from django.core.signals import request_finished
from django.db import close_old_connections
from django.http import HttpResponse
from django.http.multipartparser import MultiPartParser

from inference_api.upload.body import CappedBodyStream, CappedInput, body_limit
from inference_api.upload.multipart import safe_file_name

NAMES = [
    "photo.jpg",
    "../../etc/passwd",
    "C:\\Users\\me\\photo.png",
    "a/b\\c.webp",
    "&lt;script&gt;.jpg",
    "tab\there.png",
    "new\nline.jpg",
    "..",
    ".",
    "",
    "   ",
    "résumé.jpeg",
    "zero\u200bwidth.png",
    "&#47;etc&#47;x.jpg",
]


@pytest.mark.parametrize("name", NAMES)
def test_file_names_are_cleaned_as_djangos_own_parser_cleans_them(name):
    assert safe_file_name(name) == (MultiPartParser.sanitize_file_name(None, name) or "")


def test_django_signals_request_finished_when_the_server_closes_an_answer():
    # The pipeline writes the audit row on this signal (pipeline.record_answered).
    heard = []

    def hear(**kwargs):
        heard.append(kwargs)

    request_finished.connect(hear)
    # Django's own receiver would close the test's database connection.
    request_finished.disconnect(close_old_connections)
    try:
        answer = HttpResponse(status=HTTPStatus.OK)
        assert heard == []
        answer.close()
    finally:
        request_finished.disconnect(hear)
        request_finished.connect(close_old_connections)
    assert len(heard) == 1


def _environ(**extra) -> dict:
    environ = {
        "PATH_INFO": "/api/v1/analyze/",
        "REQUEST_METHOD": "POST",
        "wsgi.input": io.BytesIO(b"body"),
        "wsgi.input_terminated": True,
        "HTTP_TRANSFER_ENCODING": "chunked",
    }
    environ.update(extra)
    return environ


def _seen(environ: dict) -> dict:
    seen = {}

    def application(environ, start_response):
        seen.update(environ)
        return []

    CappedInput(application, api_prefix="/api/v1/")(environ, lambda *args: None)
    return seen


def test_an_unsized_api_body_is_read_through_the_cap():
    seen = _seen(_environ())
    assert isinstance(seen["wsgi.input"], CappedBodyStream)
    # Django reads up to CONTENT_LENGTH: one byte past the cap, for the stream to see it passed.
    assert seen["CONTENT_LENGTH"] == str(body_limit() + 1)
    assert seen["wsgi.input"].read() == b"body"


@pytest.mark.parametrize(
    "extra",
    [
        {"PATH_INFO": "/admin/login/"},
        {"CONTENT_LENGTH": "4"},
        {"wsgi.input_terminated": False},
        {"HTTP_TRANSFER_ENCODING": ""},
    ],
    ids=["outside-the-api", "sized", "server-does-not-end-the-input", "not-chunked"],
)
def test_other_bodies_are_left_to_django(extra):
    seen = _seen(_environ(**extra))
    assert isinstance(seen["wsgi.input"], io.BytesIO)
