"""The API's multipart parser (upload/multipart.py) against Django's own, and its limits."""

import base64
from http import HTTPStatus
from io import BytesIO

import pytest
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http.multipartparser import MultiPartParser, MultiPartParserError
from django.test import Client

from inference_api.models import AuditLog
from inference_api.testing.factories import image_upload
from inference_api.testing.http import ANALYZE, assert_refused
from inference_api.upload.body import CappedMemoryUploadHandler
from inference_api.upload.multipart import parse_form

BOUNDARY = "----testboundary"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"
JPEG_BYTES = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 40 + b"\r\n-- not a boundary\r\n"


def part(headers: list[str], data: bytes) -> bytes:
    return f"--{BOUNDARY}\r\n".encode() + "\r\n".join(headers).encode() + b"\r\n\r\n" + data


def body(*parts: bytes, preamble: bytes = b"", epilogue: bytes = b"") -> bytes:
    return preamble + b"\r\n".join(parts) + f"\r\n--{BOUNDARY}--\r\n".encode() + epilogue


def file_part(name="file", filename="photo.jpg", data=JPEG_BYTES, extra=()) -> bytes:
    disposition = f'Content-Disposition: form-data; name="{name}"; filename="{filename}"'
    return part([disposition, "Content-Type: image/jpeg", *extra], data)


def field_part(name: str, value: bytes) -> bytes:
    return part([f'Content-Disposition: form-data; name="{name}"'], value)


def ours(raw: bytes):
    parsed = parse_form(raw, BOUNDARY.encode())
    return _summary(parsed.data, parsed.files)


def djangos(raw: bytes):
    meta = {
        "CONTENT_TYPE": f"multipart/form-data; boundary={BOUNDARY}",
        "CONTENT_LENGTH": str(len(raw)),
    }
    handlers = [CappedMemoryUploadHandler()]
    data, files = MultiPartParser(meta, BytesIO(raw), handlers).parse()
    return _summary(data, files)


def _summary(data, files):
    fields = {key: data.getlist(key) for key in data}
    uploads = {
        key: [(f.name, f.content_type, f.read()) for f in files.getlist(key)] for key in files
    }
    return fields, uploads


FORMS = {
    "one file": body(file_part()),
    "a field too": body(file_part(), field_part("note", b"hello")),
    "two files under one name": body(file_part(), file_part(filename="b.jpg")),
    "a path in the filename": body(file_part(filename="../../etc/passwd")),
    "an RFC 2231 filename": body(
        part(
            [
                "Content-Disposition: form-data; name=\"file\"; filename*=UTF-8''%C3%A9t%C3%A9.jpg",
                "Content-Type: image/jpeg",
            ],
            JPEG_BYTES,
        )
    ),
    "an HTML entity in the filename": body(file_part(filename="a&amp;b.jpg")),
    "base64 transfer encoding": body(
        file_part(
            data=base64.encodebytes(JPEG_BYTES), extra=["Content-Transfer-Encoding: base64"]
        )
    ),
    "a part without a name is skipped": body(
        part(['Content-Disposition: form-data; filename="x.jpg"'], b"data"), file_part()
    ),
    "an empty filename is skipped": body(file_part(filename="")),
    "a preamble and an epilogue": body(
        file_part(), preamble=b"ignored preamble\r\n", epilogue=b"ignored epilogue"
    ),
    "no content type": body(
        part(['Content-Disposition: form-data; name="file"; filename="x.jpg"'], JPEG_BYTES)
    ),
    "an empty file": body(file_part(data=b"")),
}


@pytest.mark.parametrize("name", FORMS)
def test_it_reads_a_form_as_djangos_parser_does(name):
    assert ours(FORMS[name]) == djangos(FORMS[name])


def test_the_file_is_the_bytes_sent():
    _, files = ours(body(file_part()))
    assert files == {"file": [("photo.jpg", "image/jpeg", JPEG_BYTES)]}


@pytest.mark.parametrize(
    "raw",
    [
        b"no boundary anywhere",
        f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=file".encode(),
        f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=file\r\n\r\nno end".encode(),
        f"--{BOUNDARY}garbage\r\n".encode(),
        f"--{BOUNDARY}\r\nNo colon here\r\n\r\nx\r\n--{BOUNDARY}--".encode(),
        body(file_part(data=b"!!!not base64!!!", extra=["Content-Transfer-Encoding: base64"])),
        f"--{BOUNDARY}\r\n".encode() + b"X-Long: " + b"a" * 9000 + b"\r\n\r\n",
    ],
)
def test_a_malformed_body_is_a_parse_error(raw):
    with pytest.raises(MultiPartParserError):
        parse_form(raw, BOUNDARY.encode())


def test_an_empty_body_is_an_empty_form():
    assert ours(b"") == ({}, {})


def test_more_files_than_allowed_are_refused(settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 2
    ours(body(file_part(), file_part(name="b")))
    with pytest.raises(TooManyFilesSent):
        ours(body(file_part(), file_part(name="b"), file_part(name="c")))


def test_more_fields_than_allowed_are_refused(settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 3
    ours(body(*(field_part(f"f{n}", b"x") for n in range(3))))
    with pytest.raises(TooManyFieldsSent):
        ours(body(*(field_part(f"f{n}", b"x") for n in range(4))))


def test_fields_over_the_memory_cap_are_refused(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    with pytest.raises(RequestDataTooBig):
        ours(body(field_part("note", b"x" * 1001)))


@pytest.mark.django_db
def test_a_file_over_the_upload_cap_in_a_form_is_refused_413_with_its_size(settings):
    # The body cap leaves room for the envelope: the file's own cap is the checks'.
    settings.MAX_UPLOAD_BYTES = 10_000
    raw = body(file_part(data=JPEG_BYTES + b"x" * (12_000 - len(JPEG_BYTES))))
    response = Client().generic("POST", ANALYZE, raw, content_type=CONTENT_TYPE)

    assert_refused(response, HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "file_too_large")
    row = AuditLog.objects.get()
    assert (row.bytes_received, row.outcome) == (12_000, "file_too_large")


@pytest.mark.django_db
def test_two_files_under_the_cap_together_over_it_are_refused_as_two_files(settings):
    settings.MAX_UPLOAD_BYTES = 10_000
    raw = body(file_part(data=b"x" * 6_000), file_part(name="b", data=b"y" * 6_000))
    response = Client().generic("POST", ANALYZE, raw, content_type=CONTENT_TYPE)
    assert_refused(response, HTTPStatus.BAD_REQUEST, "too_many_files")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("content_type", "raw"),
    [
        (f"multipart/form-data; boundary={BOUNDARY}", b"garbage with no boundary"),
        ("multipart/form-data", body(file_part())),
        ("multipart/form-data; boundary=" + "b" * 201, body(file_part())),
    ],
)
def test_the_api_answers_a_malformed_form_400(content_type, raw):
    response = Client().generic("POST", ANALYZE, raw, content_type=content_type)
    assert_refused(response, HTTPStatus.BAD_REQUEST, "malformed_request")


@pytest.mark.django_db
def test_too_many_fields_are_refused_while_parsing(client):
    fields = {f"f{i}": "x" for i in range(40)}
    assert_refused(client.post(ANALYZE, fields), HTTPStatus.BAD_REQUEST, "malformed_request")


@pytest.mark.django_db
def test_an_oversized_text_field_is_refused_while_parsing(client):
    response = client.post(ANALYZE, {"note": "x" * 70_000, "file": image_upload()})
    assert_refused(response, HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "file_too_large")


def test_parts_of_any_kind_count_against_the_limit(settings):
    # Skipped parts too: a body of empty nameless parts must not cost a header parse each.
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS, settings.DATA_UPLOAD_MAX_NUMBER_FILES = 3, 2
    nameless = part(["X-Nothing: here"], b"")
    ours(body(*[nameless] * 5))
    with pytest.raises(TooManyFieldsSent):
        ours(body(*[nameless] * 6))


def test_a_base64_part_may_carry_any_whitespace():
    encoded = b" \t\r\n".join(base64.b64encode(JPEG_BYTES)[i : i + 3] for i in range(0, 10_000, 3))
    encoded += base64.b64encode(JPEG_BYTES)[10_002:]
    raw = body(file_part(data=encoded, extra=["Content-Transfer-Encoding: base64"]))
    assert ours(raw)[1]["file"][0][2] == JPEG_BYTES
