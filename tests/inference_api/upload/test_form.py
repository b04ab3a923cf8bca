"""The form (upload/form.py) and the raw body (upload/raw.py): what an upload may look like.

Every form an ordinary client uploads in: typed or untyped parts, aliases,
the raw body; and the form's shape: exactly one field, `file`, holding
exactly one file. Accept loosely, verify strictly: the declared type is a
hint and the bytes decide. Through the API with Django's test client and the real model; after
each answer the audit row (and the quarantine) is checked.
"""

from http import HTTPStatus

import pytest

from inference_api import errors
from inference_api.models import AuditLog, FlaggedUpload
from inference_api.testing.factories import image_upload
from inference_api.testing.http import (
    ANALYZE,
    MULTIPART_TYPE,
    assert_refused,
    multipart,
)
from inference_api.testing.images.photos import jpeg
from inference_api.testing.images.uploads import CONTENT_TYPES, NOT_IMAGES, encode, gif_bytes
from inference_api.upload.checks import ContentTypeValidator

pytestmark = pytest.mark.django_db
FORMATS = ["JPEG", "PNG", "WEBP"]


def post_part(client, data: bytes, content_type: str | None, filename: str = "upload"):
    """A multipart upload whose part carries `content_type` as sent, or none (None)."""
    return client.post(
        ANALYZE, data=multipart(data, content_type, filename), content_type=MULTIPART_TYPE
    )


def post_raw(client, data: bytes, content_type: str | None):
    """The image as the request body; `content_type` None sends an empty Content-Type.

    (Django's test client always sets one; the live tests send none at all.)
    """
    return client.post(ANALYZE, data=data, content_type=content_type or "")


def the_answer(response) -> dict:
    """What an answer says of the image, without what differs between requests."""
    body = response.json()
    return {key: body[key] for key in ("predictions", "model", "image")}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("declared", [None, "application/octet-stream", ""])
def test_a_part_without_a_type_is_classified_by_its_bytes(
    client, exported_model, fmt, declared
):
    data = encode(fmt, (96, 64))
    response = post_part(client, data, declared, f"photo.{fmt.lower()}")
    assert response.status_code == HTTPStatus.OK, response.content
    assert response.json()["image"]["format"] == fmt
    row = AuditLog.objects.get()
    assert (row.outcome, row.upload_via, row.declared_content_type) == (
        "ok",
        "multipart",
        declared or "",
    )


@pytest.mark.parametrize(
    ("alias", "fmt"), [("image/jpg", "JPEG"), ("image/pjpeg", "JPEG"), ("image/x-png", "PNG")]
)
def test_a_part_under_an_alias_of_its_type_is_classified(client, exported_model, alias, fmt):
    response = post_part(client, encode(fmt, (96, 64)), alias, "photo")
    assert response.status_code == HTTPStatus.OK, response.content
    assert AuditLog.objects.get().declared_content_type == alias


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("declared", ["typed", "application/octet-stream", None])
def test_the_raw_body_gets_the_multipart_answer_and_its_audit_row(
    client, exported_model, fmt, declared
):
    data = jpeg((640, 480)) if fmt == "JPEG" else encode(fmt, (320, 240))
    raw_type = CONTENT_TYPES[fmt] if declared == "typed" else declared
    as_form = post_part(client, data, CONTENT_TYPES[fmt])
    as_body = post_raw(client, data, raw_type)
    assert as_body.status_code == HTTPStatus.OK, as_body.content
    assert the_answer(as_body) == the_answer(as_form)
    form_row, raw_row = AuditLog.objects.order_by("id")
    same = ("status", "outcome", "sha256", "detected_format", "width", "height", "top_label")
    assert [getattr(raw_row, f) for f in same] == [getattr(form_row, f) for f in same]
    assert raw_row.bytes_received == form_row.bytes_received == len(data)
    assert (form_row.upload_via, raw_row.upload_via) == ("multipart", "raw")
    assert raw_row.declared_content_type == (raw_type or "")


def test_the_declared_type_is_kept_as_sent_and_bounded(client, exported_model):
    declared = "Image/JPEG; charset=binary; x=" + "y" * 300
    response = post_part(client, encode("JPEG"), declared)
    assert response.status_code == HTTPStatus.OK
    assert AuditLog.objects.get().declared_content_type == declared[:100]


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", b'{"image": "aGVsbG8="}'),
        ("application/x-www-form-urlencoded", b"file=photo.jpg"),
        ("text/plain", b"hello"),
    ],
)
def test_a_body_of_another_type_is_told_how_to_send_an_image(client, content_type, body):
    response = client.post(ANALYZE, data=body, content_type=content_type)
    assert_refused(
        response, HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", errors.HOW_TO_SEND
    )
    row = AuditLog.objects.get()
    assert (row.outcome, row.declared_content_type) == ("unsupported_media_type", content_type)
    assert not FlaggedUpload.objects.exists()


@pytest.mark.parametrize("send", [post_part, post_raw])
def test_a_gif_declared_as_a_gif_is_refused_before_any_decode(client, send):
    response = send(client, gif_bytes(), "image/gif")
    assert_refused(
        response,
        HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        ContentTypeValidator.message,
    )
    assert not FlaggedUpload.objects.exists()


@pytest.mark.parametrize("send", [post_part, post_raw])
@pytest.mark.parametrize("declared", [None, "application/octet-stream"])
@pytest.mark.parametrize("payload", [gif_bytes(), NOT_IMAGES["html"]], ids=["gif", "html"])
def test_undeclared_bytes_of_another_format_are_refused_and_not_flagged(
    client, send, declared, payload
):
    response = send(client, payload, declared)
    assert_refused(response, HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
    row = AuditLog.objects.get()
    assert row.outcome == "unsupported_media_type"
    assert row.sha256 and row.bytes_received == len(payload)
    assert not FlaggedUpload.objects.exists()


@pytest.mark.parametrize("send", [post_part, post_raw])
def test_a_png_declared_as_jpeg_is_a_mismatch_and_flagged_either_way(client, send):
    response = send(client, encode("PNG"), "image/jpeg")
    body = assert_refused(response, HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "content_type_mismatch")
    assert "PNG" in body["error"] and "image/png" in body["error"]
    assert FlaggedUpload.objects.get().reason == "content_type_mismatch"
    row = AuditLog.objects.get()
    assert (row.detected_format, row.declared_content_type) == ("PNG", "image/jpeg")


def test_an_empty_raw_body_is_told_to_send_an_image(client):
    response = post_raw(client, b"", "image/jpeg")
    assert_refused(response, HTTPStatus.BAD_REQUEST, "no_file", errors.HOW_TO_SEND)


# --- the form's shape -------------------------------------------------------------------


def test_a_request_without_a_file_is_refused(client):
    assert_refused(client.post(ANALYZE, {}), HTTPStatus.BAD_REQUEST, "no_file")
    assert_refused(client.post(ANALYZE, {"file": "not a file"}), HTTPStatus.BAD_REQUEST, "no_file")
    response = client.post(ANALYZE, {"image": image_upload()})
    assert_refused(response, HTTPStatus.BAD_REQUEST, "no_file")
    assert AuditLog.objects.filter(outcome="no_file").count() == 3


@pytest.mark.parametrize("count", [2, 3])
def test_more_than_one_file_is_refused(client, count):
    files = [image_upload() for _ in range(count)]
    assert_refused(client.post(ANALYZE, {"file": files}), HTTPStatus.BAD_REQUEST, "too_many_files")
    assert AuditLog.objects.get().outcome == "too_many_files"
    assert not FlaggedUpload.objects.exists()


def test_two_files_under_different_names_are_refused(client):
    fields = {"file": image_upload(), "other": image_upload()}
    response = client.post(ANALYZE, fields)
    assert_refused(response, HTTPStatus.BAD_REQUEST, "too_many_files")


def test_a_field_besides_the_file_is_refused(client):
    response = client.post(ANALYZE, {"file": image_upload(), "callback": "http://x"})
    assert_refused(response, HTTPStatus.BAD_REQUEST, "malformed_request")
