"""Step 3 of the request flow: the form of POST /api/v1/analyze/.

The form has exactly one field, `file`, holding exactly one image. Every
rejection raises the ApiError of the contract (not a DRF ValidationError),
so the client learns the precise code. What is learned about the upload
(size, hash, filename, detected format, dimensions, the bytes themselves for
quarantine) is written on the request's audit record as soon as it is known,
whether or not the upload is then accepted.
"""

from django.core.files.uploadedfile import UploadedFile
from rest_framework import serializers

from . import errors
from .records import RequestRecord
from .validators import CheckedUpload, UploadFacts, check_upload

FILENAME_MAX = 255


class CheckedImageField(serializers.ImageField):
    """An image upload checked by `validators.check_upload`; its value is a `CheckedUpload`.

    Unlike DRF's ImageField this never calls Django's forms.ImageField check,
    which opens the file with every Pillow plugin there is.
    """

    def to_internal_value(self, data: object) -> CheckedUpload:
        if not isinstance(data, UploadedFile):
            raise errors.NoFile()
        payload = data.read()
        filename = (data.name or "")[:FILENAME_MAX]
        content_type = data.content_type or ""
        record: RequestRecord | None = self.context.get("record")
        _note_upload(record, payload, filename, content_type)
        facts = UploadFacts()
        try:
            return check_upload(
                payload,
                content_type=content_type,
                filename=filename,
                facts=facts,
                model_input=self.context.get("model_input"),
            )
        finally:
            _note_facts(record, facts)


class AnalyzeRequestSerializer(serializers.Serializer):
    """The analyze form: one image in `file`, nothing else.

    More than one file (under any field names) -> 400 too_many_files; no
    file in `file` -> 400 no_file; any other field -> 400 malformed_request
    (Django's DATA_UPLOAD_* settings already bound how many and how large
    such fields can be while the body is parsed).
    """

    file = CheckedImageField()

    def to_internal_value(self, data: object) -> dict:
        if len(_uploaded_files(data)) > 1:
            raise errors.TooManyFiles()
        if not isinstance(_get(data, "file"), UploadedFile):
            raise errors.NoFile()
        if set(_keys(data)) - {"file"}:
            raise errors.MalformedRequest("Only the multipart field 'file' is accepted.")
        return super().to_internal_value(data)


def _get(data: object, key: str) -> object:
    return data.get(key) if hasattr(data, "get") else None


def _keys(data: object) -> list[str]:
    return list(data.keys()) if hasattr(data, "keys") else []


def _uploaded_files(data: object) -> list[UploadedFile]:
    """Every uploaded file in the form, under any field name."""
    if not hasattr(data, "lists"):
        return []
    return [
        value for _, values in data.lists() for value in values if isinstance(value, UploadedFile)
    ]


def _note_upload(
    record: RequestRecord | None, payload: bytes, filename: str, content_type: str
) -> None:
    if record is None:
        return
    record.filename = filename
    record.declared_content_type = content_type[:100]
    record.bytes_received = len(payload)
    record.upload = payload


def _note_facts(record: RequestRecord | None, facts: UploadFacts) -> None:
    if record is None:
        return
    record.sha256 = facts.sha256
    record.detected_format = facts.detected_format
    record.width = facts.width
    record.height = facts.height
