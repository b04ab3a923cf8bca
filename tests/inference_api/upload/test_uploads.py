"""Receiving the upload: the streaming byte cap, the form's shape, and the error contract.

The handler is tested under Django's own multipart parser; the form through
the API with the test client (real model for the accepted cases). After each
rejection the audit row and the quarantine are checked.
"""

import hashlib
import io
from http import HTTPStatus

import pytest
from django.core.files.uploadedfile import InMemoryUploadedFile
from django.http import UnreadablePostError
from django.http.multipartparser import MultiPartParser
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart

from inference_api import errors
from inference_api.models import AuditLog, FlaggedUpload
from inference_api.testing.http import ANALYZE, upload_file
from inference_api.testing.images.uploads import (
    CONTENT_TYPES,
    NOT_IMAGES,
    encode,
    gif_bytes,
    jpeg_with_scans,
    png_declaring,
    tiff_bytes,
)
from inference_api.upload.body import CappedBodyStream, CappedMemoryUploadHandler

CHUNK = CappedMemoryUploadHandler.chunk_size


class CountingStream(io.BytesIO):
    """A request body that remembers how many of its bytes were read."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.bytes_read = 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.bytes_read += len(chunk)
        return chunk


def parse(stream: CountingStream) -> dict:
    """The files Django's multipart parser gets from `stream` with our handler."""
    meta = {"CONTENT_TYPE": MULTIPART_CONTENT, "CONTENT_LENGTH": str(len(stream.getbuffer()))}
    _, files = MultiPartParser(meta, stream, [CappedMemoryUploadHandler()]).parse()
    return files


def form(**fields) -> bytes:
    return encode_multipart(BOUNDARY, fields)


def assert_error(response, status: HTTPStatus, code: str) -> None:
    """The error contract: status, JSON body with a person's message, the code, the request id."""
    assert response.status_code == status
    body = response.json()
    assert body == {"error": body["error"], "code": code, "request_id": response["X-Request-ID"]}
    assert body["error"] and "Traceback" not in body["error"]


def only_audit_row() -> AuditLog:
    return AuditLog.objects.get()


# --- the upload handler under Django's multipart parser ----------------------------------


def test_the_handler_stops_reading_one_chunk_past_the_cap(settings):
    settings.MAX_UPLOAD_BYTES = 200_000
    stream = CountingStream(form(file=upload_file(bytes(5_000_000))))
    with pytest.raises(errors.FileTooLarge):
        parse(stream)
    # The parser reads one chunk ahead to find the part's end.
    assert stream.bytes_read <= settings.MAX_UPLOAD_BYTES + 2 * CHUNK


def test_a_file_at_the_cap_is_kept_in_memory_without_a_temporary_file(settings, tmp_path):
    settings.MAX_UPLOAD_BYTES = 300_000
    # Django would spool anything over this to a temporary file; this handler never does.
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    payload = b"x" * 300_000
    received = parse(CountingStream(form(file=upload_file(payload))))["file"]
    assert isinstance(received, InMemoryUploadedFile)
    assert received.read() == payload
    assert list(tmp_path.iterdir()) == []


def test_the_cap_counts_all_files_of_a_request_together(settings):
    settings.MAX_UPLOAD_BYTES = 150_000
    two = form(file=[upload_file(bytes(100_000)), upload_file(bytes(100_000))])
    with pytest.raises(errors.FileTooLarge):
        parse(CountingStream(two))


def test_a_capped_body_stream_refuses_the_byte_past_its_limit():
    stream = CappedBodyStream(io.BytesIO(bytes(1000)), limit=600)
    assert len(stream.read(500)) == 500
    with pytest.raises(errors.FileTooLarge):
        stream.read(500)
    assert stream.count == 601


def test_a_capped_body_stream_turns_a_server_read_error_into_an_unreadable_body():
    class BrokenChunks(io.BytesIO):
        def read(self, size=-1):
            raise ValueError("Invalid chunk size")

    with pytest.raises(UnreadablePostError):
        CappedBodyStream(BrokenChunks(), limit=600).read(100)


def test_a_capped_body_stream_ends_where_a_short_body_ends():
    stream = CappedBodyStream(io.BytesIO(b"abc"), limit=600)
    assert stream.read() == b"abc"
    assert stream.read() == b""


# --- the form, through the API -------------------------------------------------------------


@pytest.mark.django_db
def test_a_request_without_a_file_is_refused(client):
    assert_error(client.post(ANALYZE, {}), HTTPStatus.BAD_REQUEST, "no_file")
    assert_error(client.post(ANALYZE, {"file": "not a file"}), HTTPStatus.BAD_REQUEST, "no_file")
    response = client.post(ANALYZE, {"image": upload_file(encode("PNG"))})
    assert_error(response, HTTPStatus.BAD_REQUEST, "no_file")
    assert AuditLog.objects.filter(outcome="no_file").count() == 3


@pytest.mark.django_db
@pytest.mark.parametrize("count", [2, 3])
def test_more_than_one_file_is_refused(client, count):
    files = [upload_file(encode("PNG")) for _ in range(count)]
    assert_error(client.post(ANALYZE, {"file": files}), HTTPStatus.BAD_REQUEST, "too_many_files")
    assert only_audit_row().outcome == "too_many_files"
    assert not FlaggedUpload.objects.exists()


@pytest.mark.django_db
def test_two_files_under_different_names_are_refused(client):
    fields = {"file": upload_file(encode("PNG")), "other": upload_file(encode("PNG"))}
    response = client.post(ANALYZE, fields)
    assert_error(response, HTTPStatus.BAD_REQUEST, "too_many_files")


@pytest.mark.django_db
def test_a_field_besides_the_file_is_refused(client):
    response = client.post(ANALYZE, {"file": upload_file(encode("PNG")), "callback": "http://x"})
    assert_error(response, HTTPStatus.BAD_REQUEST, "malformed_request")


@pytest.mark.django_db
def test_too_many_fields_are_refused_while_parsing(client):
    fields = {f"f{i}": "x" for i in range(40)}
    assert_error(client.post(ANALYZE, fields), HTTPStatus.BAD_REQUEST, "malformed_request")


@pytest.mark.django_db
def test_an_oversized_text_field_is_refused_while_parsing(client):
    response = client.post(ANALYZE, {"note": "x" * 70_000, "file": upload_file(encode("PNG"))})
    assert_error(response, HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "file_too_large")


@pytest.mark.django_db
def test_a_multipart_body_without_boundary_is_malformed(client):
    response = client.generic("POST", ANALYZE, b"garbage", content_type="multipart/form-data")
    assert_error(response, HTTPStatus.BAD_REQUEST, "malformed_request")


@pytest.mark.django_db
def test_a_body_that_is_not_a_form_is_an_unsupported_media_type(client):
    response = client.post(ANALYZE, {"file": "x"}, content_type="application/json")
    assert_error(response, HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")


# --- the byte cap, through the API --------------------------------------------------------


@pytest.mark.django_db
def test_a_declared_length_over_the_cap_is_refused_before_reading(client, settings):
    settings.MAX_UPLOAD_BYTES = 100_000
    response = client.post(
        ANALYZE, {"file": upload_file(encode("PNG"))}, CONTENT_LENGTH=str(100_000 + 17 * 1024)
    )
    assert_error(response, HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "file_too_large")
    audit = only_audit_row()
    assert (audit.status, audit.outcome, audit.bytes_received) == (413, "file_too_large", 0)


@pytest.mark.django_db
def test_a_file_one_byte_over_the_cap_is_refused_while_streaming(post_upload, settings):
    settings.MAX_UPLOAD_BYTES = 100_000
    response = post_upload(bytes(100_001))
    assert_error(response, HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "file_too_large")
    audit = only_audit_row()
    assert audit.outcome == "file_too_large"
    assert 100_000 < audit.bytes_received <= 100_000 + CHUNK
    assert audit.sha256 == ""
    assert not FlaggedUpload.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_a_file_exactly_at_the_cap_is_classified(post_upload, settings, exported_model, fmt):
    payload = encode(fmt, (96, 64))
    settings.MAX_UPLOAD_BYTES = len(payload)
    response = post_upload(payload, f"photo.{fmt.lower()}", CONTENT_TYPES[fmt])
    assert response.status_code == HTTPStatus.OK
    assert len(response.json()["predictions"]) == 5


# --- the checks, through the API ----------------------------------------------------------


@pytest.mark.django_db
def test_an_accepted_upload_is_audited_with_its_facts(post_upload, exported_model):
    payload = encode("WEBP", (120, 80))
    response = post_upload(payload, "C:\\Users\\me\\holiday.webp", "image/webp")
    assert response.status_code == HTTPStatus.OK
    assert response.json()["image"] == {"format": "WEBP", "width": 120, "height": 80}
    audit = only_audit_row()
    assert (audit.status, audit.outcome, audit.detected_format) == (200, "ok", "WEBP")
    assert (audit.width, audit.height, audit.bytes_received) == (120, 80, len(payload))
    assert audit.sha256 == hashlib.sha256(payload).hexdigest()
    assert audit.declared_content_type == "image/webp"
    assert not FlaggedUpload.objects.exists()


@pytest.mark.django_db
def test_a_png_sent_as_jpeg_is_refused_and_quarantined(post_upload):
    response = post_upload(encode("PNG"), "photo.jpg", "image/jpeg")
    assert_error(response, HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "content_type_mismatch")
    audit = only_audit_row()
    assert (audit.detected_format, audit.declared_content_type) == ("PNG", "image/jpeg")
    assert FlaggedUpload.objects.get().reason == "content_type_mismatch"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "payload"),
    [
        ("page.html", NOT_IMAGES["html"]),
        ("drawing.svg", NOT_IMAGES["svg"]),
        ("doc.pdf", NOT_IMAGES["pdf"]),
        ("anim.gif", gif_bytes()),
        ("scan.tif", tiff_bytes()),
    ],
)
def test_other_formats_sent_as_png_are_refused(post_upload, name, payload):
    response = post_upload(payload, name, "image/png")
    assert_error(response, HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "content_type_mismatch")
    assert FlaggedUpload.objects.get().sha256 == only_audit_row().sha256 != ""


@pytest.mark.django_db
def test_a_type_off_the_allowlist_is_refused(post_upload):
    response = post_upload(gif_bytes(), "anim.gif", "image/gif")
    assert_error(response, HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
    assert not FlaggedUpload.objects.exists()


@pytest.mark.django_db
def test_a_zero_byte_file_is_refused(post_upload):
    assert_error(post_upload(b""), HTTPStatus.UNPROCESSABLE_ENTITY, "invalid_image")


@pytest.mark.django_db
def test_a_truncated_jpeg_is_refused_and_quarantined(post_upload):
    data = encode("JPEG", (256, 256))
    response = post_upload(data[: len(data) // 2], "cut.jpg", "image/jpeg")
    assert_error(response, HTTPStatus.UNPROCESSABLE_ENTITY, "invalid_image")
    audit = only_audit_row()
    assert (audit.detected_format, audit.width, audit.height) == ("JPEG", 256, 256)
    assert FlaggedUpload.objects.get().reason == "invalid_image"


@pytest.mark.django_db
def test_a_png_bomb_is_refused_and_quarantined(post_upload):
    response = post_upload(png_declaring(25_000, 25_000), "bomb.png")
    assert_error(response, HTTPStatus.UNPROCESSABLE_ENTITY, "decompression_bomb")
    assert FlaggedUpload.objects.get().reason == "decompression_bomb"


@pytest.mark.django_db
def test_an_image_over_the_dimension_cap_is_refused(post_upload):
    response = post_upload(encode("PNG", (8001, 4)))
    assert_error(response, HTTPStatus.UNPROCESSABLE_ENTITY, "image_too_large")
    audit = only_audit_row()
    assert (audit.width, audit.height) == (8001, 4)


@pytest.mark.django_db
def test_a_jpeg_with_thousands_of_scans_is_refused(post_upload):
    response = post_upload(jpeg_with_scans(5000), "scans.jpg", "image/jpeg")
    assert_error(response, HTTPStatus.UNPROCESSABLE_ENTITY, "too_many_scans")
    assert FlaggedUpload.objects.get().reason == "too_many_scans"
