"""The served OpenAPI schema against the live API, with schemathesis.

Generated requests (a bounded number) go to gunicorn over HTTP; every
response must be a non-5xx that the schema allows: a documented status, the
documented content type, headers and body. A real image checks the 200
response the same way, since random bytes never make a valid image.
"""

import io
from http import HTTPStatus

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from PIL import Image
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from inference_api.testing.http import ANALYZE
from inference_api.testing.servers import gunicorn_server

pytestmark = [pytest.mark.live, pytest.mark.slow]

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def live_api(exported_model):
    # Generated requests all come from 127.0.0.1: the rate limit must not be what answers.
    env = {"RATE_LIMIT_PER_IP": "1000000/m", "RATE_LIMIT_PER_KEY": "1000000/m"}
    with gunicorn_server(env=env, workers=2) as server:
        yield server


@pytest.fixture(scope="module")
def api_schema(live_api):
    return schemathesis.openapi.from_url(live_api.url + "/api/schema/?format=json")


def operations(api_schema) -> list:
    found = [result.ok() for result in api_schema.get_all_operations()]
    assert found, "the schema lists no operation"
    return found


# schemathesis' pytest plugin (from_fixture) does not run on pytest 9 yet, so the
# generated cases are driven by hypothesis here, one operation at a time.
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_api_answers_as_its_schema_says(api_schema, mode):
    for operation in operations(api_schema):

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=30,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        )
        def call(case) -> None:
            case.call_and_validate(checks=CHECKS, timeout=30)

        call()


def test_a_classified_image_matches_the_200_schema(api_schema, live_api):
    buffer = io.BytesIO()
    Image.new("RGB", (300, 200), (10, 200, 90)).save(buffer, "PNG")
    response = requests.post(
        live_api.url + ANALYZE,
        files={"file": ("a.png", buffer.getvalue(), "image/png")},
        timeout=60,
    )
    assert response.status_code == HTTPStatus.OK, response.text
    case = api_schema[ANALYZE]["POST"].Case(media_type="multipart/form-data")
    case.validate_response(response, checks=CHECKS)


def test_the_schema_describes_the_upload_and_every_error(live_api):
    document = requests.get(live_api.url + "/api/schema/?format=json", timeout=30).json()
    operation = document["paths"][ANALYZE]["post"]
    upload = operation["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert upload["properties"]["file"] == {**upload["properties"]["file"], "format": "binary"}
    assert upload["required"] == ["file"]
    statuses = set(operation["responses"])
    assert statuses == {"200", "400", "401", "403", "413", "415", "422", "429", "500", "503"}
    for status in statuses - {"200"}:
        body = operation["responses"][status]["content"]["application/json"]["schema"]
        assert body == {"$ref": "#/components/schemas/Error"}
    error = document["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"error", "code", "request_id"}


def test_the_docs_page_loads_its_assets_from_this_server(live_api):
    page = requests.get(live_api.url + "/api/docs/", timeout=30)
    assert page.status_code == HTTPStatus.OK
    assert "swagger-ui" in page.text
    assert "cdn." not in page.text and "unpkg" not in page.text
