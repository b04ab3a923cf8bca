"""The byte cap (upload/body.py): never more than MAX_UPLOAD_BYTES is read or kept.

The upload handler is tested under Django's own multipart parser, the capped
stream on its own, and the cap through the API with the test client (real
model for the files at the cap), form and raw body alike. After each
rejection the audit row and the quarantine are checked.
"""

import io
from http import HTTPStatus

import pytest
from django.core.files.uploadedfile import InMemoryUploadedFile
from django.http import UnreadablePostError
from django.http.multipartparser import MultiPartParser
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart

from inference_api import errors
from inference_api.models import AuditLog, FlaggedUpload
from inference_api.testing.factories import image_upload
from inference_api.testing.http import ANALYZE, assert_refused, upload_file
from inference_api.testing.images.uploads import CONTENT_TYPES, encode
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


# --- the byte cap, through the API --------------------------------------------------------


@pytest.mark.django_db
def test_a_declared_length_over_the_cap_is_refused_before_reading(client, settings):
    settings.MAX_UPLOAD_BYTES = 100_000
    response = client.post(
        ANALYZE, {"file": image_upload()}, CONTENT_LENGTH=str(100_000 + 17 * 1024)
    )
    assert_refused(response, HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "file_too_large")
    audit = only_audit_row()
    assert (audit.status, audit.outcome, audit.bytes_received) == (413, "file_too_large", 0)


@pytest.mark.django_db
def test_a_file_one_byte_over_the_cap_is_refused_while_streaming(post_upload, settings):
    settings.MAX_UPLOAD_BYTES = 100_000
    response = post_upload(bytes(100_001))
    assert_refused(response, HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "file_too_large")
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


@pytest.mark.django_db
def test_a_raw_body_over_the_cap_is_refused(client, settings):
    settings.MAX_UPLOAD_BYTES = 10_000
    data = encode("PNG") + bytes(10_001)
    response = client.post(ANALYZE, data=data, content_type="image/png")
    assert_refused(response, HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "file_too_large")
    assert AuditLog.objects.get().upload_via == "raw"


@pytest.mark.django_db
def test_a_raw_body_declared_over_the_cap_is_refused_before_it_is_read(client, settings):
    settings.MAX_UPLOAD_BYTES = 10_000
    response = client.post(
        ANALYZE, data=b"", content_type="image/jpeg", headers={"Content-Length": "99999999"}
    )
    assert_refused(response, HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "file_too_large")
