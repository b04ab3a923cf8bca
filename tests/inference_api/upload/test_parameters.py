"""upload/parameters.py: header parameters read as Django reads them, in bounded time."""

import time

import pytest
from django.http.multipartparser import MultiPartParserError
from django.utils.http import parse_header_parameters

from inference_api.upload.parameters import MAX_PARAMETERS, MAX_VALUE_LENGTH, parse_parameters

AS_CLIENTS_SEND = [
    'form-data; name="file"; filename="photo.jpg"',
    "form-data; name=file; filename=my photo.jpg",
    'form-data; name="file"; filename="a;b.jpg"',
    'form-data; name="f"; filename="a\\"b.jpg"',
    'form-data; name="a\\\\b"',
    "form-data; name=\"file\"; filename*=UTF-8''%C3%A9t%C3%A9.jpg",
    'form-data; name="file"; filename="x.jpg"; filename*=UTF-8\'\'y.jpg',
    "form-data; Name=\"file\"; FILENAME*0*=UTF-8''%C3%A9; filename*1=t.jpg",
    "multipart/form-data; boundary=----WebKitFormBoundaryabc",
    'multipart/form-data; boundary="a b"',
    "image/jpeg",
    "IMAGE/JPEG; charset=utf-8",
    'form-data; name=""',
    'form-data;name="x";;filename="y"',
    'form-data; filename="x.jpg"',
    ' form-data ; name = "x" ',
    "",
]
# Django's reader (the email package's parameter split) recounts the quotes before
# every `;`: each of these cost it 17-40 ms at 8 KB, ~1 CPU-s over a form's parts.
QUADRATIC = {
    "semicolons in an open quote": 'form-data; name="' + ";" * MAX_VALUE_LENGTH,
    "semicolons in a closed quote": 'form-data; name="' + ";" * (MAX_VALUE_LENGTH - 20) + '"',
    "escaped quotes and semicolons": 'form-data; name="' + '\\";' * (MAX_VALUE_LENGTH // 3),
}


@pytest.mark.parametrize("value", AS_CLIENTS_SEND)
def test_it_reads_what_clients_send_as_django_does(value):
    assert parse_parameters(value) == parse_header_parameters(value)


@pytest.mark.parametrize("name", QUADRATIC)
def test_the_inputs_that_are_quadratic_for_django_cost_it_almost_nothing(name):
    value = QUADRATIC[name][:MAX_VALUE_LENGTH]
    started = time.process_time()
    for _ in range(100):
        try:
            parse_parameters(value)
        except MultiPartParserError:
            pass
    # 100 reads: Django's reader takes ~1-2 s for these (10-20 ms each at 4 KB).
    assert time.process_time() - started < 0.1


def test_a_value_over_the_length_bound_is_refused():
    with pytest.raises(MultiPartParserError):
        parse_parameters('form-data; name="' + "a" * MAX_VALUE_LENGTH + '"')


def test_more_parameters_than_the_bound_are_refused():
    at_bound = "form-data" + "; a=b" * MAX_PARAMETERS
    assert parse_parameters(at_bound) == ("form-data", {"a": "b"})
    with pytest.raises(MultiPartParserError):
        parse_parameters(at_bound + "; a=b")


def test_an_unknown_rfc2231_charset_is_refused_as_django_does():
    value = "form-data; name=\"file\"; filename*=NOPE''x.jpg"
    with pytest.raises(ValueError):
        parse_header_parameters(value)
    with pytest.raises(MultiPartParserError):
        parse_parameters(value)
