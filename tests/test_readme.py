"""The README says what the code does: its error table against errors.py, its configuration
table against config/environment.py (itself checked against the code by
tests/config/test_environment.py), and one behaviour it used to get wrong."""

import re
from http import HTTPStatus
from pathlib import Path

import pytest

from config import environment
from inference_api import errors

README = Path(__file__).resolve().parent.parent / "README.md"
# Codes answered outside the API, documented with their endpoints instead.
NOT_API_CODES = {"bad_request", "not_ready", "forbidden"}


def section(title: str) -> str:
    text = README.read_text()
    start = text.index(title)
    end = text.find("\n#", start + len(title))
    return text[start:end]


def error_table() -> dict[str, set[int]]:
    """{code: statuses of its row} from the README's error table."""
    rows = {}
    for line in section("### Errors").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0][:1].isdigit():
            continue
        statuses = {int(status) for status in re.findall(r"\d{3}", cells[0])}
        for code in re.findall(r"`([a-z_]+)`", cells[1]):
            rows[code] = statuses
    return rows


def test_every_error_code_is_in_the_readme_with_its_status():
    table = error_table()
    for cls in errors.all_errors():
        if cls.code in NOT_API_CODES:
            continue
        assert cls.code in table, f"{cls.code} is missing from the README's error table"
        assert int(cls.status) in table[cls.code], f"{cls.code}: README says {table[cls.code]}"


def test_the_readme_names_no_error_code_that_does_not_exist():
    known = {cls.code for cls in errors.all_errors()}
    assert set(error_table()) <= known


def test_the_configuration_table_is_the_one_config_environment_makes():
    text = README.read_text()
    assert environment.readme_with_table(text) == text, (
        "README's configuration table differs from config/environment.py: run `make readme`"
    )


@pytest.mark.django_db
def test_a_request_that_is_not_multipart_gets_415_as_the_readme_says(client):
    response = client.post("/api/v1/analyze/", {"file": "x"}, content_type="application/json")
    assert response.status_code == HTTPStatus.UNSUPPORTED_MEDIA_TYPE
    assert response.json()["code"] == "unsupported_media_type"
    assert error_table()["unsupported_media_type"] == {HTTPStatus.UNSUPPORTED_MEDIA_TYPE}
    assert "not multipart" not in section("### Errors").split("| 415")[0]
