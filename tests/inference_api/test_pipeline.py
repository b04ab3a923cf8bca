"""The pipeline's last step runs once the answer is sent, not while the client waits."""

from http import HTTPStatus

import pytest
from django.core.signals import request_finished
from django.db import close_old_connections
from django.http import JsonResponse
from django.test import RequestFactory

from inference_api.models import AuditLog
from inference_api.pipeline import ApiPipelineMiddleware, RequestIdMiddleware

pytestmark = pytest.mark.django_db


def test_the_audit_row_is_written_when_the_server_closes_the_answer():
    request = RequestFactory().post("/api/v1/analyze/", REMOTE_ADDR="198.51.100.4")
    pipeline = ApiPipelineMiddleware(lambda _: JsonResponse({}, status=HTTPStatus.OK))
    answer = RequestIdMiddleware(pipeline)(request)

    assert answer.status_code == HTTPStatus.OK
    assert not AuditLog.objects.exists()  # the answer is out before the row
    # What the WSGI server does after the last byte (without closing the test's
    # database connection, as Django's test client does too).
    request_finished.disconnect(close_old_connections)
    try:
        answer.close()
    finally:
        request_finished.connect(close_old_connections)
    row = AuditLog.objects.get()
    assert (row.request_id, row.client_ip, row.outcome) == (
        answer["X-Request-ID"], "198.51.100.4", "ok"
    )
