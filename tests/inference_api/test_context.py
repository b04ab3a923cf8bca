"""The request's one carrier (`request.api`) and the immutable errors that feed it."""

from http import HTTPStatus

import pytest
from django.test import RequestFactory

from inference_api import errors
from inference_api.context import (
    Admission,
    ApiContext,
    Arrival,
    ContextError,
    Examined,
    Outcome,
    Received,
    api_context,
)
from inference_api.exceptions import error_response

ARRIVAL = Arrival(request_id="r" * 32, client_ip="198.51.100.7")


def test_each_step_hands_its_value_once_and_the_record_holds_them():
    context = ApiContext(ARRIVAL)
    admission = Admission(bucket="ip:198.51.100.7")
    received = Received(b"\xff\xd8", size=2)
    context.add(admission)
    context.add(received)

    with pytest.raises(ContextError, match="received"):
        context.add(Received(b"other", size=5))
    record = context.record(Outcome("ok", HTTPStatus.OK), latency_ms=3.0)
    assert (record.admission, record.received, record.examined) == (admission, received, None)


def test_a_refusal_fills_what_no_step_had_added_and_keeps_the_first_error():
    context = ApiContext(ARRIVAL)
    received = Received(b"abc", size=3)
    context.add(received)
    examined = Examined(sha256="e" * 64, detected_format="PNG")
    first = errors.InvalidImage(received=Received(b"", size=9), examined=examined)

    context.refuse(first)
    context.refuse(errors.InternalError())

    assert context.error is first
    # The step's own value stands; the error's fills the empty slot.
    assert (context.received, context.examined) == (received, examined)


def test_an_error_cannot_be_changed_only_carried_on_as_a_new_one():
    admission = Admission(bucket="key:1")
    error = errors.RateLimited(retry_after=7)

    with pytest.raises(AttributeError, match="immutable"):
        error.admission = admission
    carried = error.carrying(admission=admission)

    assert error.admission is None
    assert type(carried) is errors.RateLimited
    assert (carried.admission, carried.retry_after, carried.message) == (
        admission, 7, error.message
    )


def test_the_error_answer_hands_the_refusal_to_the_requests_context():
    request = RequestFactory().post("/api/v1/analyze/")
    request.api = ApiContext(ARRIVAL)

    response = error_response(request, errors.NoFile())

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert api_context(request).error.code == "no_file"
    assert not hasattr(response, "api_error")


def test_a_request_outside_the_api_has_no_context():
    assert api_context(RequestFactory().get("/admin/")) is None
