"""The audit trail as written by the audit step, trail.audit (the pipeline's last step)."""

import logging
from datetime import timedelta
from http import HTTPStatus

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from inference_api.audit import trail
from inference_api.audit.inflight import WORKER_DIED
from inference_api.context import RequestRecord
from inference_api.models import AuditLog, FlaggedUpload, UsageDay
from inference_api.testing import services as test_services
from inference_api.testing.factories import make_record

pytestmark = pytest.mark.django_db

TOO_MANY = HTTPStatus.TOO_MANY_REQUESTS


def test_it_writes_one_row_with_the_facts_of_an_accepted_request():
    record = make_record(
        api_key_id="AbCd1234.hashed",
        outcome="ok",
        detected_format="JPEG",
        bytes_received=12345,
        width=640,
        height=480,
        sha256="ab" * 32,
        top_label="tabby",
        top_score=0.87,
        model_version="1.0.0",
    )

    trail.audit(record.finished(HTTPStatus.OK, 42.123456))

    row = AuditLog.objects.get()
    assert row.request_id == record.request_id
    assert row.client_ip == "203.0.113.7"
    assert row.client_key == "203.0.113.7"
    assert row.api_key_id == "AbCd1234.hashed"
    assert row.path == "/api/v1/analyze/"
    assert (row.status, row.outcome) == (200, "ok")
    assert row.declared_content_type.startswith("multipart/form-data")
    assert (row.detected_format, row.bytes_received) == ("JPEG", 12345)
    assert (row.width, row.height, row.sha256) == (640, 480, "ab" * 32)
    assert (row.top_label, row.top_score, row.model_version) == ("tabby", 0.87, "1.0.0")
    assert row.latency_ms == pytest.approx(42.123, abs=0.001)
    assert (row.user_agent, row.count, row.aggregate_key) == ("pytest", 1, None)
    assert not FlaggedUpload.objects.exists()


@pytest.mark.parametrize(
    ("outcome", "status"),
    [
        ("no_file", HTTPStatus.BAD_REQUEST),
        ("invalid_api_key", HTTPStatus.UNAUTHORIZED),
        ("method_not_allowed", HTTPStatus.METHOD_NOT_ALLOWED),
        ("file_too_large", HTTPStatus.REQUEST_ENTITY_TOO_LARGE),
        ("unsupported_media_type", HTTPStatus.UNSUPPORTED_MEDIA_TYPE),
        ("overloaded", HTTPStatus.SERVICE_UNAVAILABLE),
        ("model_unavailable", HTTPStatus.SERVICE_UNAVAILABLE),
        ("internal_error", HTTPStatus.INTERNAL_SERVER_ERROR),
    ],
)
def test_it_writes_one_row_for_each_refusal(outcome, status):
    record = make_record(outcome=outcome, bytes_received=10)

    trail.audit(record.finished(status, 1.0))

    row = AuditLog.objects.get()
    assert (row.outcome, row.status, row.count) == (outcome, status, 1)
    assert row.request_id == record.request_id
    assert not FlaggedUpload.objects.exists()


# In autocommit, as in production: no test transaction adds savepoints.
@pytest.mark.django_db(transaction=True)
def test_a_flood_of_rate_limited_requests_costs_two_updates_each():
    # One for the aggregated audit row, one for the day's usage row: bounded, never an INSERT.
    first = make_record(outcome="rate_limited")
    trail.audit(first.finished(HTTPStatus.TOO_MANY_REQUESTS, 1.0))

    with CaptureQueriesContext(connection) as queries:
        for _ in range(199):
            record = make_record(outcome="rate_limited")
            trail.audit(record.finished(HTTPStatus.TOO_MANY_REQUESTS, 1))

    row = AuditLog.objects.get()
    assert (row.outcome, row.count, row.request_id) == ("rate_limited", 200, first.request_id)
    assert row.last_seen_at >= row.created_at
    statements = [q["sql"].split()[0].upper() for q in queries.captured_queries]
    assert statements == ["UPDATE"] * 2 * 199
    usage = UsageDay.objects.get()
    assert (usage.outcome, usage.requests, usage.megapixels) == ("rate_limited", 200, 0.0)


def test_it_keeps_one_counted_row_per_client_per_window(monkeypatch):
    start = timezone.now()
    for ip in ["198.51.100.1", "198.51.100.1", "198.51.100.2"]:
        trail.audit(
            make_record(outcome="rate_limited", client_ip=ip).finished(TOO_MANY, 1)
        )
    later = start + timedelta(seconds=trail.AGGREGATE_WINDOW_SECONDS)
    monkeypatch.setattr(timezone, "now", lambda: later)
    trail.audit(
        make_record(outcome="rate_limited", client_ip="198.51.100.1").finished(
            HTTPStatus.TOO_MANY_REQUESTS, 1
        )
    )

    counts = sorted(AuditLog.objects.values_list("client_ip", "count"))
    assert counts == [("198.51.100.1", 1), ("198.51.100.1", 2), ("198.51.100.2", 1)]


def test_it_counts_an_ipv6_subnet_as_one_client():
    for ip in ["2001:db8:1:2::1", "2001:db8:1:2:ffff::9", "2001:db8:1:3::1"]:
        trail.audit(
            make_record(outcome="rate_limited", client_ip=ip).finished(TOO_MANY, 1)
        )

    counts = sorted(AuditLog.objects.values_list("client_key", "count"))
    assert counts == [("2001:db8:1:2::/64", 2), ("2001:db8:1:3::/64", 1)]


@pytest.mark.parametrize(
    ("outcome", "status"),
    [("blocked", HTTPStatus.FORBIDDEN), ("service_unavailable", HTTPStatus.SERVICE_UNAVAILABLE)],
)
def test_cheap_refusals_are_counted_too(outcome, status):
    for _ in range(5):
        trail.audit(make_record(outcome=outcome).finished(status, 1))

    row = AuditLog.objects.get()
    assert (row.outcome, row.status, row.count) == (outcome, status, 5)


def test_it_truncates_what_the_client_sent_and_keeps_a_bad_address_out():
    record = make_record(
        outcome="no_file",
        client_ip="not an address",
        user_agent="x" * 5000,
        path="/api/v1/" + "a" * 500,
        declared_content_type="y" * 500,
        sha256="z" * 100,
        api_key_id="k" * 400,
    )

    trail.audit(record.finished(HTTPStatus.BAD_REQUEST, 1))

    row = AuditLog.objects.get()
    assert row.client_ip == "0.0.0.0"
    assert (len(row.user_agent), len(row.path), len(row.declared_content_type)) == (256, 200, 100)
    assert (len(row.sha256), len(row.api_key_id)) == (64, 150)


def test_a_failed_write_never_raises_and_logs_the_whole_row(caplog):
    table = AuditLog._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f'ALTER TABLE "{table}" RENAME TO "{table}_away"')
    record = make_record(outcome="ok", top_label="tabby", top_score=0.5)

    with caplog.at_level(logging.ERROR, logger="inference_api.audit.trail"):
        trail.audit(record.finished(HTTPStatus.OK, 3.0))

    with connection.cursor() as cursor:
        cursor.execute(f'ALTER TABLE "{table}_away" RENAME TO "{table}"')
    assert not AuditLog.objects.exists()
    [lost] = [r for r in caplog.records if r.getMessage().startswith("audit row lost:")]
    assert lost.levelno == logging.ERROR
    assert record.request_id in lost.getMessage()
    assert '"top_label": "tabby"' in lost.getMessage()


@pytest.mark.django_db(transaction=True)
def test_an_accepted_request_is_written_after_its_connection_died(caplog):
    test_services.require(
        connection.vendor == "postgresql",
        "the suite on PostgreSQL",
        "run with DATABASE_URL=postgres://postgres@127.0.0.1:5432/<name>",
    )
    import psycopg

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        [pid] = cursor.fetchone()
    params = connection.get_connection_params()
    with psycopg.connect(**{**params, "autocommit": True}) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
    record = make_record(outcome="ok")

    with caplog.at_level(logging.ERROR, logger="inference_api.audit.trail"):
        trail.audit(record.finished(HTTPStatus.OK, 1.0))

    assert AuditLog.objects.filter(request_id=record.request_id).count() == 1
    assert not [r for r in caplog.records if "audit row lost" in r.getMessage()]


def test_a_request_whose_worker_died_is_written_by_the_master():
    arrival = make_record(outcome="ok").finished(HTTPStatus.OK).arrival

    trail.audit(RequestRecord(arrival=arrival, outcome=WORKER_DIED))

    row = AuditLog.objects.get()
    assert (row.request_id, row.outcome, row.status) == (arrival.request_id, "worker_died", 500)


def test_a_request_its_worker_audited_before_dying_is_not_written_twice():
    """Killed between its INSERT and clearing its in-flight record, the worker
    leaves the master a request that is already in the trail."""
    served = make_record(outcome="ok", top_label="tabby", model_version="v1")
    finished = served.finished(HTTPStatus.OK)
    trail.audit(finished)

    trail.audit(RequestRecord(arrival=finished.arrival, outcome=WORKER_DIED))

    assert list(AuditLog.objects.values_list("request_id", "outcome")) == [
        (finished.arrival.request_id, "ok")
    ]
