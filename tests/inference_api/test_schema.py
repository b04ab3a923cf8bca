"""The OpenAPI schema lists every error code the analyze endpoint can answer, from errors.py."""

import importlib

import pytest
from django.test import override_settings

from inference_api import errors, schema
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


def test_the_schema_states_the_limits_and_types_the_settings_set():
    try:
        with override_settings(MAX_IMAGE_DIMENSION=1234, ALLOWED_CONTENT_TYPES=("image/png",)):
            described = importlib.reload(schema)
        file_part = described.UPLOAD_FORM["properties"]["file"]["description"]
        assert "1234 px a side" in file_part and "image/jpeg," not in file_part
        assert described.RAW_TYPES == ("image/png", "application/octet-stream")
    finally:
        importlib.reload(schema)
