"""outcomes.py: every outcome an audit row can hold, in one enumeration."""

from http import HTTPStatus

import pytest

from inference_api import errors, outcomes
from inference_api.models import AuditLog


def test_every_refusal_code_is_an_outcome():
    codes = {cls.code for cls in errors.all_errors() if cls is not errors.ApiError}
    assert codes <= set(outcomes.named())


def test_the_outcomes_no_error_gives_are_named_too():
    assert {"ok", "options", "worker_died", "unknown"} <= set(outcomes.named())


@pytest.mark.parametrize("status", [HTTPStatus.BAD_GATEWAY, 418, 599])
def test_an_answer_no_error_gave_is_of_the_http_status_family(status):
    code = outcomes.http_status(status)
    assert code == f"http_{int(status)}"
    assert outcomes.is_http_status(code) and outcomes.is_outcome(code)


@pytest.mark.parametrize("code", ["http_", "http_NNN", "http_5022", "forged", ""])
def test_it_knows_what_is_not_an_outcome(code):
    assert not outcomes.is_outcome(code)


def test_every_outcome_fits_the_audit_rows_column():
    column = AuditLog._meta.get_field("outcome").max_length
    longest = max([*outcomes.named(), outcomes.http_status(599)], key=len)
    assert len(longest) <= column, longest
