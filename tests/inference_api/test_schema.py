"""The OpenAPI schema lists every error code the analyze endpoint can answer, from errors.py."""

import pytest

from inference_api import errors
from inference_api.schema import ERROR_STATUSES, NOT_FROM_ANALYZE


@pytest.fixture
def analyze_responses(client) -> dict:
    schema = client.get("/api/schema/", {"format": "json"}).json()
    return schema["paths"]["/api/v1/analyze/"]["post"]["responses"]


def test_every_code_of_errors_py_is_in_the_schema_under_its_status(analyze_responses):
    listed = {
        error.code: error.status
        for error in errors.all_errors()
        if error.status in ERROR_STATUSES and error.code not in NOT_FROM_ANALYZE
    }
    assert {"too_costly", "too_many_scans", "decompression_bomb"} <= set(listed)
    for code, status in listed.items():
        assert f"`{code}`" in analyze_responses[str(status)]["description"], code


def test_a_code_is_listed_under_its_own_status_only(analyze_responses):
    assert "`too_costly`" not in analyze_responses["413"]["description"]
    assert "`file_too_large`" not in analyze_responses["422"]["description"]
