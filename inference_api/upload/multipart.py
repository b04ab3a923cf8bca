"""The API's multipart/form-data parser: the body read once, parts found by search.

The body is already bounded when this runs (upload/body.py: a declared
length over the limit is refused, a chunked one is cut at it), so it is read
in one call and its parts are found with `bytes.find`: one copy of the file
from the body, no per-chunk Python loop (Django's parser costs about 2 ms a
megabyte). Django's limits and its reading of part headers are kept:

- DATA_UPLOAD_MAX_NUMBER_FILES (too_many_files), DATA_UPLOAD_MAX_NUMBER_FIELDS
  and DATA_UPLOAD_MAX_MEMORY_SIZE for non-file fields (400/413); parts of
  any kind, skipped ones included, at most the two counts together (400);
  a file past the upload's cap (`body.over_the_cap`) is refused as its part
  is found (413 file_too_large), before the form keeps a copy of it;
- Content-Disposition and Content-Type read as Django's
  `parse_header_parameters` reads them (RFC 2231 filenames), but in linear
  time and bounded (`parameters.parse_parameters`), file names sanitised
  as Django's parser does (`safe_file_name`), base64
  Content-Transfer-Encoding decoded;
- a part without a name, or a file part whose name sanitises to nothing,
  is skipped, as Django does.

Anything else that is not a well-formed form is a MultiPartParserError,
which the error handler answers 400 malformed_request.
"""

import base64
import binascii
import html
from io import BytesIO

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.core.files.uploadedfile import InMemoryUploadedFile
from django.http.multipartparser import MultiPartParserError
from django.utils.datastructures import MultiValueDict
from rest_framework.parsers import BaseParser, DataAndFiles

from .. import errors
from ..context import Received
from .body import over_the_cap
from .parameters import parse_parameters

# RFC 2046: 1 to 70 characters of a restricted set. Django's own check.
BOUNDARY_MAX = 200
# What base64 parts may carry between their characters (bytes.split's whitespace).
WHITESPACE = b" \t\n\r\x0b\x0c"
# The header block of one part (Content-Disposition, Content-Type, ...).
PART_HEADERS_MAX = 8 * 1024


class UploadParser(BaseParser):
    """DRF's parser for multipart/form-data (DEFAULT_PARSER_CLASSES)."""

    media_type = "multipart/form-data"

    def parse(self, stream, media_type=None, parser_context=None) -> DataAndFiles:
        boundary = _boundary(media_type or "")
        body = stream.read() if stream is not None else b""
        return parse_form(body, boundary)


def _boundary(media_type: str) -> bytes:
    _, params = parse_parameters(media_type)
    boundary = params.get("boundary", "")
    valid = 0 < len(boundary) <= BOUNDARY_MAX and all(32 <= ord(c) <= 126 for c in boundary)
    if not valid or boundary.endswith(" "):
        raise MultiPartParserError(f"Invalid boundary in multipart: {boundary!r}")
    return boundary.encode("ascii")


def parse_form(body: bytes, boundary: bytes) -> DataAndFiles:
    """The fields and files of a multipart body."""
    fields, files = MultiValueDict(), MultiValueDict()
    field_count = field_bytes = file_count = 0
    # Every part counts, also those skipped below: a body of empty parts must not
    # cost a header parse each (750,000 of them fit in the cap: 1.5 s of CPU).
    most = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + settings.DATA_UPLOAD_MAX_NUMBER_FILES
    for number, (headers, start, end) in enumerate(_parts(body, boundary), start=1):
        _count(number, most, TooManyFieldsSent)
        disposition, params = parse_parameters(headers.get("content-disposition", ""))
        name = params.get("name")
        if disposition != "form-data" or not name:
            continue
        if not params.get("filename"):  # an empty filename makes a field, as in Django
            field_count += 1
            _count(field_count, settings.DATA_UPLOAD_MAX_NUMBER_FIELDS, TooManyFieldsSent)
            field_bytes += len(name) + 2 + end - start
            if field_bytes > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
                raise RequestDataTooBig("Request body exceeded DATA_UPLOAD_MAX_MEMORY_SIZE.")
            value = _decoded(body[start:end], headers)
            fields.appendlist(name, value.decode("utf-8", "replace"))
            continue
        file_name = safe_file_name(params["filename"])
        if not file_name:
            continue
        file_count += 1
        _count(file_count, settings.DATA_UPLOAD_MAX_NUMBER_FILES, TooManyFilesSent)
        data = _decoded(body[start:end], headers)
        if over_the_cap(len(data)):
            # Refused here, before the form keeps a copy: the audit gets its size only.
            content_type, _ = parse_parameters(headers.get("content-type", ""))
            received = Received(b"", file_name, content_type, size=len(data))
            raise errors.FileTooLarge(received=received)
        # The part's type as sent, parameters and all: the checks read it, the audit keeps it.
        declared = headers.get("content-type", "")
        files.appendlist(name, _uploaded(name, file_name, declared, data))
    return DataAndFiles(fields, files)


def safe_file_name(name: str) -> str:
    """The client's file name as Django's parser keeps it: entities read, no path, printable.

    "" for a name that is nothing once cleaned ("", ".", ".."): such a part is skipped.
    """
    name = html.unescape(name).rsplit("/")[-1].rsplit("\\")[-1]
    name = "".join(char for char in name if char.isprintable())
    return "" if name in {"", ".", ".."} else name


def _parts(body: bytes, boundary: bytes):
    """(headers, start, end) of each part: its lower-cased headers and its data's span."""
    delimiter = b"--" + boundary
    position = body.find(delimiter)
    if position < 0:
        if body.strip():
            raise MultiPartParserError("No boundary in the body.")
        return
    position += len(delimiter)
    while not body.startswith(b"--", position):
        if not body.startswith(b"\r\n", position):
            raise MultiPartParserError("Malformed boundary line.")
        head_start = position + 2
        head_end = body.find(b"\r\n\r\n", head_start, head_start + PART_HEADERS_MAX)
        if head_end < 0:
            raise MultiPartParserError("A part's headers do not end.")
        start = head_end + 4
        end = body.find(b"\r\n" + delimiter, start)
        if end < 0:
            raise MultiPartParserError("The body ends inside a part.")
        yield _headers(body[head_start:head_end]), start, end
        position = end + 2 + len(delimiter)


def _headers(block: bytes) -> dict[str, str]:
    headers = {}
    for line in block.split(b"\r\n"):
        name, colon, value = line.partition(b":")
        if not colon:
            raise MultiPartParserError("Malformed part header.")
        headers[name.strip().lower().decode("latin-1")] = value.strip().decode("utf-8", "replace")
    return headers


def _decoded(data: bytes, headers: dict[str, str]) -> bytes:
    if headers.get("content-transfer-encoding", "").strip().lower() != "base64":
        return data
    try:
        # One pass without whitespace; split() made an object per word (226 MB for 10 MB).
        return base64.b64decode(data.translate(None, WHITESPACE), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MultiPartParserError("Could not decode base64 data.") from exc


def _count(count: int, limit: int | None, error: type[Exception]) -> None:
    if limit is not None and count > limit:
        raise error(f"The number of parts exceeded {error.__name__}'s limit.")


def _uploaded(field: str, name: str, content_type: str, data: bytes) -> InMemoryUploadedFile:
    return InMemoryUploadedFile(
        file=BytesIO(data),
        field_name=field,
        name=name,
        content_type=content_type,
        size=len(data),
        charset=None,
    )
