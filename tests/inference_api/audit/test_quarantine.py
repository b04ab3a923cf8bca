"""Flagged rejections keep their bytes in the private quarantine storage, within budgets."""

import hashlib
from http import HTTPStatus

import pytest

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

NotStored = FlaggedUpload.NotStored


@pytest.fixture
def quarantine(settings, tmp_path):
    return use_tmp_quarantine(settings, tmp_path / "quarantine")


def _audit(record, status=HTTPStatus.UNPROCESSABLE_ENTITY):
    audited(record, status, 2.0)


@pytest.mark.parametrize(
    ("reason", "status"),
    [
        ("content_type_mismatch", HTTPStatus.UNSUPPORTED_MEDIA_TYPE),
        ("invalid_image", HTTPStatus.UNPROCESSABLE_ENTITY),
        ("image_too_large", HTTPStatus.UNPROCESSABLE_ENTITY),
        ("decompression_bomb", HTTPStatus.UNPROCESSABLE_ENTITY),
    ],
)
def test_a_hostile_rejection_keeps_its_bytes_under_a_random_name(quarantine, reason, status):
    record = hostile_record(outcome=reason)

    _audit(record, status)

    audit = AuditLog.objects.get()
    flagged = FlaggedUpload.objects.get()
    assert (flagged.audit, flagged.reason, flagged.not_stored) == (audit, reason, "")
    assert flagged.sha256 == hashlib.sha256(HOSTILE_BYTES).hexdigest()
    assert (flagged.size, flagged.detected_format) == (len(HOSTILE_BYTES), "PNG")
    [path] = stored_files(quarantine)
    assert path.read_bytes() == HOSTILE_BYTES
    assert path.name == flagged.file.storage_name
    assert "evil" not in path.name and not path.name.endswith(".png")


def test_the_same_bytes_are_kept_once_and_linked(quarantine):
    _audit(hostile_record(client_ip="198.51.100.1"))
    _audit(hostile_record(client_ip="198.51.100.2", outcome="content_type_mismatch"))

    first, second = FlaggedUpload.objects.order_by("id")
    assert first.file == second.file
    assert QuarantinedFile.objects.count() == 1
    assert len(stored_files(quarantine)) == 1


def test_a_full_quarantine_evicts_its_oldest_files_for_new_ones(quarantine, settings):
    settings.QUARANTINE_MAX_BYTES = (len(HOSTILE_BYTES) + 1) * 2
    for n in range(3):
        _audit(hostile_record(HOSTILE_BYTES + bytes([n]), client_ip=f"198.51.100.{n + 1}"))

    assert AuditLog.objects.count() == 3
    flagged = list(FlaggedUpload.objects.order_by("id"))
    assert [f.not_stored for f in flagged] == [NotStored.EVICTED, "", ""]
    assert flagged[0].file is None and flagged[2].file is not None
    assert sorted(p.read_bytes() for p in stored_files(quarantine)) == [
        HOSTILE_BYTES + bytes([1]),
        HOSTILE_BYTES + bytes([2]),
    ]


def test_files_marked_malicious_are_never_evicted(quarantine, settings):
    settings.QUARANTINE_MAX_BYTES = (len(HOSTILE_BYTES) + 1) * 2
    for n in range(2):
        _audit(hostile_record(HOSTILE_BYTES + bytes([n]), client_ip=f"198.51.100.{n + 1}"))
    FlaggedUpload.objects.update(review_status=FlaggedUpload.Review.MALICIOUS)
    _audit(hostile_record(HOSTILE_BYTES + b"new", client_ip="198.51.100.3"))

    flagged = list(FlaggedUpload.objects.order_by("id"))
    assert [f.not_stored for f in flagged] == ["", "", NotStored.TOTAL_BUDGET]
    assert len(stored_files(quarantine)) == 2


def test_a_few_clients_cannot_keep_later_hostile_uploads_out(quarantine, settings):
    # The case: a handful of clients fill the whole budget first.
    size = len(HOSTILE_BYTES) + 1
    settings.QUARANTINE_MAX_BYTES = size * 4
    settings.QUARANTINE_MAX_BYTES_PER_CLIENT = size * 2
    for n in range(4):
        _audit(hostile_record(HOSTILE_BYTES + bytes([n]), client_ip=f"198.51.100.{n // 2 + 1}"))
    _audit(hostile_record(HOSTILE_BYTES + b"L", client_ip="203.0.113.50"))

    latest = FlaggedUpload.objects.order_by("-id").first()
    assert latest.not_stored == "" and latest.file is not None


def test_a_client_past_its_daily_flagged_rows_is_audited_but_not_flagged(quarantine, settings):
    settings.QUARANTINE_MAX_FLAGGED_PER_CLIENT_PER_DAY = 2
    for n in range(4):
        _audit(hostile_record(HOSTILE_BYTES + bytes([n]), client_ip="2001:db8:9::1"))
    _audit(hostile_record(HOSTILE_BYTES + b"x", client_ip="198.51.100.8"))

    assert AuditLog.objects.count() == 5
    assert FlaggedUpload.objects.filter(audit__client_key="2001:db8:9::/64").count() == 2
    assert FlaggedUpload.objects.filter(audit__client_ip="198.51.100.8").count() == 1
    assert len(stored_files(quarantine)) == 3


def test_a_nearly_full_quarantine_shows_in_the_gauge_and_the_admin(
    quarantine, settings, admin_client, caplog
):
    from inference_api.operations import metrics

    settings.QUARANTINE_MAX_BYTES = int(len(HOSTILE_BYTES) / 0.85)
    with caplog.at_level("WARNING", logger="inference_api.audit.quarantine_budget"):
        _audit(hostile_record())
    ratio = metrics.QUARANTINE_USED_RATIO._value.get()
    page = admin_client.get("/admin/")

    assert 0.8 <= ratio < 1.0
    assert "quarantine" in caplog.text and "% full" in caplog.text
    assert "The quarantine is 8" in page.content.decode()


def test_the_admin_says_nothing_while_the_quarantine_has_room(quarantine, admin_client):
    _audit(hostile_record())
    assert "The quarantine is" not in admin_client.get("/admin/").content.decode()


def test_it_stops_storing_past_a_clients_budget_but_not_others(quarantine, settings):
    settings.QUARANTINE_MAX_BYTES_PER_CLIENT = len(HOSTILE_BYTES) + 1
    _audit(hostile_record(HOSTILE_BYTES + b"1", client_ip="2001:db8:7::1"))
    _audit(hostile_record(HOSTILE_BYTES + b"2", client_ip="2001:db8:7::2"))  # same /64
    _audit(hostile_record(HOSTILE_BYTES + b"3", client_ip="198.51.100.9"))

    kept = list(FlaggedUpload.objects.order_by("id").values_list("not_stored", flat=True))
    assert kept == ["", NotStored.CLIENT_BUDGET, ""]
    assert AuditLog.objects.count() == 3
    assert len(stored_files(quarantine)) == 2


def test_a_failing_storage_still_audits_the_rejection(settings, tmp_path):
    not_a_folder = tmp_path / "file-in-the-way"
    not_a_folder.write_bytes(b"")
    use_tmp_quarantine(settings, tmp_path / "ok")
    settings.STORAGES["quarantine"]["OPTIONS"]["location"] = str(not_a_folder)

    _audit(hostile_record())

    flagged = FlaggedUpload.objects.get()
    assert (flagged.file, flagged.not_stored) == (None, NotStored.STORAGE_ERROR)
    assert AuditLog.objects.count() == 1
    assert not QuarantinedFile.objects.exists()


def test_a_flagged_rejection_without_bytes_is_audited_without_a_file(quarantine):
    _audit(make_record(outcome="invalid_image", flagged=True, upload=None))

    flagged = FlaggedUpload.objects.get()
    assert (flagged.file, flagged.not_stored) == (None, NotStored.NO_BYTES)
    assert stored_files(quarantine) == []


def test_an_ordinary_refusal_keeps_no_bytes(quarantine):
    _audit(make_record(outcome="no_file", upload=b"abc"), HTTPStatus.BAD_REQUEST)

    assert AuditLog.objects.count() == 1
    assert not FlaggedUpload.objects.exists()
    assert stored_files(quarantine) == []
