"""Step 3 of the request pipeline, first half: the image as received, form or raw body.

`received_upload` takes what DRF's parser made of the body: a multipart
form (`multipart.UploadParser`), or the image as the body itself
(`raw.RawImageParser`, already a `Received`). The form has exactly one
field, `file`, holding exactly one file. Every rejection raises the
ApiError of the contract (not a DRF ValidationError), so the client learns
the precise code. The value is the file as received (`context.Received`); the
checks of its bytes are `checks.check_upload`'s, the same for both forms.
"""

from django.core.files.uploadedfile import UploadedFile
from rest_framework import serializers

from .. import errors
from ..context import Received, UploadForm

FILENAME_MAX = 255


class UploadField(serializers.FileField):
    """One uploaded file, read whole (the upload handler bounds it); its value is a `Received`.

    Unlike DRF's ImageField this never calls Django's forms.ImageField check,
    which opens the file with every Pillow plugin there is.
    """

    def to_internal_value(self, data: object) -> Received:
        if not isinstance(data, UploadedFile):
            raise errors.NoFile()
        payload = data.read()
        return Received(
            data=payload,
            filename=(data.name or "")[:FILENAME_MAX],
            content_type=data.content_type or "",
            size=len(payload),
            via=UploadForm.MULTIPART,
        )


class AnalyzeRequestSerializer(serializers.Serializer):
    """The analyze form: one image in `file`, nothing else.

    More than one file (under any field names) -> 400 too_many_files; no
    file in `file` -> 400 no_file; any other field -> 400 malformed_request
    (Django's DATA_UPLOAD_* settings already bound how many and how large
    such fields can be while the body is parsed).
    """

    file = UploadField()

    def to_internal_value(self, data: object) -> dict:
        if len(_uploaded_files(data)) > 1:
            raise errors.TooManyFiles()
        if not isinstance(_get(data, "file"), UploadedFile):
            raise errors.NoFile()
        if set(_keys(data)) - {"file"}:
            raise errors.MalformedRequest(
                "Send the image in the multipart field 'file' and no other field."
            )
        return super().to_internal_value(data)


def received_upload(data: object) -> Received:
    """The one image of the request, from DRF's parsed `request.data`."""
    if isinstance(data, Received):
        return data
    form = AnalyzeRequestSerializer(data=data)
    form.is_valid(raise_exception=True)
    return form.validated_data["file"]


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
