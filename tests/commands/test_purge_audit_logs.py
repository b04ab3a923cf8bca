"""manage.py purge_audit_logs: old rows and their quarantined files go, newer ones stay;
without --yes nothing goes."""

from datetime import timedelta
from http import HTTPStatus
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from inference_api.models import AuditLog, FlaggedUpload, QuarantinedFile
from inference_api.testing.factories import (
    HOSTILE_BYTES,
    audited,
    hostile_record,
    make_record,
    stored_files,
    use_tmp_quarantine,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def quarantine(settings, tmp_path):
    return use_tmp_quarantine(settings, tmp_path / "quarantine")


def _audit(record, age_days: float, status=HTTPStatus.UNPROCESSABLE_ENTITY) -> AuditLog:
    audited(record, status)
    row = AuditLog.objects.get(request_id=record.request_id)
    AuditLog.objects.filter(pk=row.pk).update(created_at=timezone.now() - timedelta(days=age_days))
    return row


def _purge(*args: str) -> str:
    out = StringIO()
    call_command("purge_audit_logs", *args, stdout=out)
    return out.getvalue()


def test_it_deletes_old_rows_and_their_files_and_keeps_newer_ones(quarantine):
    old = _audit(hostile_record(HOSTILE_BYTES + b"old"), age_days=40)
    _audit(make_record(outcome="ok"), age_days=40, status=HTTPStatus.OK)
    new = _audit(hostile_record(HOSTILE_BYTES + b"new"), age_days=5)
    kept_file = FlaggedUpload.objects.get(audit=new).file

    output = _purge("--older-than", "30", "--yes")

    assert list(AuditLog.objects.all()) == [new]
    assert list(QuarantinedFile.objects.all()) == [kept_file]
    assert [p.name for p in stored_files(quarantine)] == [kept_file.storage_name]
    assert not FlaggedUpload.objects.filter(audit_id=old.pk).exists()
    assert "Deleted 2 audit rows and 1 quarantined files" in output


def test_a_file_shared_with_a_newer_row_is_kept(quarantine):
    _audit(hostile_record(client_ip="198.51.100.1"), age_days=40)
    _audit(hostile_record(client_ip="198.51.100.2"), age_days=1)

    _purge("--older-than", "30", "--yes")

    assert AuditLog.objects.count() == 1
    file = FlaggedUpload.objects.get().file
    assert [p.name for p in stored_files(quarantine)] == [file.storage_name]


def test_it_works_in_batches_and_says_so(quarantine):
    for n in range(5):
        _audit(hostile_record(HOSTILE_BYTES + bytes([n])), age_days=100)

    output = _purge("--older-than", "30", "--batch-size", "2", "--yes")

    assert not AuditLog.objects.exists()
    assert not QuarantinedFile.objects.exists()
    assert stored_files(quarantine) == []
    assert [line for line in output.splitlines() if line.startswith("batch")] == [
        "batch 1: 2 rows, 2 files (total 2 rows, 2 files)",
        "batch 2: 2 rows, 2 files (total 4 rows, 4 files)",
        "batch 3: 1 rows, 1 files (total 5 rows, 5 files)",
    ]


@pytest.mark.parametrize("mode", [[], ["--dry-run"]], ids=["without --yes", "--dry-run"])
def test_without_yes_it_only_says_what_it_would_delete(quarantine, mode):
    _audit(hostile_record(), age_days=40)
    _audit(make_record(outcome="ok"), age_days=1, status=HTTPStatus.OK)

    output = _purge("--older-than", "30", *mode)

    assert AuditLog.objects.count() == 2
    assert FlaggedUpload.objects.count() == 1
    assert QuarantinedFile.objects.count() == 1
    assert len(stored_files(quarantine)) == 1
    assert "would delete 1 audit rows, 1 flagged uploads and 1 quarantined files" in output
    assert "--yes" in output
    assert "Deleted" not in output


def test_yes_and_dry_run_together_are_refused(quarantine):
    _audit(hostile_record(), age_days=40)

    with pytest.raises(CommandError, match="not allowed with"):
        _purge("--older-than", "30", "--yes", "--dry-run")

    assert AuditLog.objects.count() == 1


def test_it_uses_the_retention_setting_by_default(quarantine, settings):
    settings.AUDIT_RETENTION_DAYS = 10
    _audit(make_record(outcome="ok"), age_days=11, status=HTTPStatus.OK)
    kept = _audit(make_record(outcome="ok"), age_days=9, status=HTTPStatus.OK)

    call_command("purge_audit_logs", "--yes", stdout=StringIO())

    assert list(AuditLog.objects.all()) == [kept]


@pytest.mark.parametrize("args", [["--older-than", "0"], ["--batch-size", "0"]])
def test_it_refuses_nonsense_arguments(args):
    with pytest.raises(CommandError):
        _purge(*args)
