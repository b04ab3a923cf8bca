"""The image as the request body itself: `Content-Type: image/jpeg` (or none) and the bytes.

This is how TorchServe (`curl -T`), the hosted vision APIs and
`requests.post(url, data=f)` send an image. The multipart parser is not
involved: the body, already capped by `body.cap_body` (a declared length
over the limit refused, a chunked one cut at it), is read in one call and
becomes a `Received` with the request's own Content-Type as the declared
type. The checks that follow are the multipart file's (`checks.check_upload`):
the declared type is a hint, the bytes decide.
"""

from django.utils.datastructures import MultiValueDict
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import BaseParser, DataAndFiles

from .. import errors
from ..context import Received, UploadForm


class RawImageParser(BaseParser):
    """DRF's parser for an image sent as the body, under any image/* type.

    Types off the allowlist (image/gif, ...) are parsed too, so that the
    checks refuse them with the allowlist's own message.
    """

    media_type = "image/*"

    def parse(self, stream, media_type=None, parser_context=None) -> DataAndFiles:
        body = stream.read() if stream is not None else b""
        if not body:
            raise errors.NoFile()
        received = Received(
            data=body, content_type=media_type or "", size=len(body), via=UploadForm.RAW
        )
        return DataAndFiles(received, MultiValueDict())


class OctetStreamParser(RawImageParser):
    """The same, for a body declared only as bytes: the magic bytes decide its format."""

    media_type = "application/octet-stream"


class UploadNegotiation(DefaultContentNegotiation):
    """DRF's negotiation, where a body sent with no Content-Type at all is a raw image.

    `requests.post(url, data=f)` and `fetch(url, {body: blob})` with an
    untyped Blob send none; like application/octet-stream, an absent type
    declares nothing and the bytes decide.
    """

    def select_parser(self, request, parsers):
        if not request.content_type:
            return next((p for p in parsers if isinstance(p, OctetStreamParser)), None)
        return super().select_parser(request, parsers)
