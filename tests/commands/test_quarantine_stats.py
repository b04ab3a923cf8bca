"""manage.py quarantine_stats: counts and bytes by reason."""

from http import HTTPStatus
from io import StringIO

import pytest
from django.core.management import call_command

from inference_api.testing.factories import (
    HOSTILE_BYTES,
    audited,
    hostile_record,
    use_tmp_quarantine,
)

pytestmark = pytest.mark.django_db


def test_it_counts_flagged_uploads_and_bytes_by_reason(settings, tmp_path):
    use_tmp_quarantine(settings, tmp_path / "quarantine")
    settings.QUARANTINE_MAX_BYTES = 1000
    size = len(HOSTILE_BYTES)
    for record in [
        hostile_record(outcome="invalid_image"),
        hostile_record(outcome="invalid_image"),  # the same bytes: one file
        hostile_record(HOSTILE_BYTES + b"x", outcome="decompression_bomb"),
    ]:
        audited(record, HTTPStatus.UNPROCESSABLE_ENTITY)
    out = StringIO()

    call_command("quarantine_stats", stdout=out)

    lines = out.getvalue().splitlines()
    assert lines[1].split() == ["decompression_bomb", "1", "1", str(size + 1)]
    assert lines[2].split() == ["invalid_image", "2", "2", str(2 * size)]
    used = 2 * size + 1
    assert f"distinct files kept: 2, {used} bytes of 1000 ({used / 10:.1f}%)" in out.getvalue()
