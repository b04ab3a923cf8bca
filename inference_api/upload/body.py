"""Step 2 of the request pipeline: receive the upload, never more than the byte cap.

The byte cap has one source, `body_limit()` (the upload's cap,
MAX_UPLOAD_BYTES, and the multipart envelope), and one path per way a
body can arrive:

- `cap_body`, which the pipeline calls for every POST, refuses a declared
  Content-Length over the limit before any byte of the body is read;
- a body sent without Content-Length (Transfer-Encoding: chunked) would be
  seen as empty by Django under WSGI: `CappedInput`, around the WSGI
  application, makes it readable through a `CappedBodyStream`, refused
  (413) as soon as it passes the limit.

The API's parsers (`multipart`, `raw`) then read the bounded body in one
call. A file past the upload's cap (`over_the_cap`, the one rule) is
refused where it is first met: by the multipart parser as it finds the
part, before a copy of it is made, and by `checks.UploadSizeValidator`
for any other form.

`CappedMemoryUploadHandler` is the only entry of FILE_UPLOAD_HANDLERS, for
any multipart body Django's own parser reads (not the API's): it counts the
files' bytes as they stream in and raises `errors.FileTooLarge` as soon as
they pass MAX_UPLOAD_BYTES; files are kept in memory only, bounded by the
cap plus one chunk.

Nothing may parse the body before the view does: the API view is exempt
from CSRF (DRF's APIView) and has no authentication classes, so neither
reads `request.POST`.
"""

from io import BytesIO

from django.conf import settings
from django.core.files.uploadedfile import InMemoryUploadedFile
from django.core.files.uploadhandler import FileUploadHandler, StopFutureHandlers
from django.http import HttpRequest, UnreadablePostError

from .. import errors
from ..context import Received
from . import memory

# Room for the multipart boundaries and the part headers around the file.
ENVELOPE_BYTES = 16 * 1024


def body_limit() -> int:
    """The most bytes a request body may hold: the upload's cap and its envelope."""
    return settings.MAX_UPLOAD_BYTES + ENVELOPE_BYTES


def over_the_cap(size: int) -> bool:
    """Whether a file of `size` bytes is past the upload's cap: the one rule, wherever it is met."""
    return size > settings.MAX_UPLOAD_BYTES


def cap_body(request: HttpRequest) -> None:
    """Refuse a POST whose declared Content-Length is over the limit (413), and cap the rest.

    An honest oversized upload so costs nothing; a body without a length
    (chunked) is stopped while streaming (`CappedInput`), and one that lies
    is cut at its declared length by Django's own LimitedStream.
    """
    if isinstance(request.META.get("wsgi.input"), CappedBodyStream):
        declared = 0  # the client declared no length; CappedInput stands for it
    else:
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
    memory.note_body(declared, "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower())
    if declared > body_limit():
        raise errors.FileTooLarge()


class CappedMemoryUploadHandler(FileUploadHandler):
    """Streams uploaded files into memory and stops past MAX_UPLOAD_BYTES.

    The count covers every file of the request together, so two files of
    just under the cap cannot double the memory a request may hold. The
    client's filename, content type and per-part Content-Length are passed
    on untouched and trusted for nothing. A refusal carries how many bytes
    were received, for the audit.
    """

    def __init__(self, request: HttpRequest | None = None) -> None:
        super().__init__(request)
        self.received = 0
        self.file: BytesIO | None = None

    def new_file(self, *args, **kwargs) -> None:
        super().new_file(*args, **kwargs)
        self.file = BytesIO()
        raise StopFutureHandlers()

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        self.received += len(raw_data)
        if over_the_cap(self.received):
            self.file.close()
            received = Received(
                data=b"",
                filename=self.file_name or "",
                content_type=self.content_type or "",
                size=self.received,
            )
            raise errors.FileTooLarge(received=received)
        self.file.write(raw_data)
        return None

    def file_complete(self, file_size: int) -> InMemoryUploadedFile:
        self.file.seek(0)
        return InMemoryUploadedFile(
            file=self.file,
            field_name=self.field_name,
            name=self.file_name,
            content_type=self.content_type,
            size=file_size,
            charset=self.charset,
            content_type_extra=self.content_type_extra,
        )


class CappedBodyStream:
    """A request body read from a server stream, refused once it passes `limit` bytes.

    Reads ask the server for at most one byte more than the limit, so going
    over is noticed without reading further. `count` is how many bytes were read.
    The server's own error for a body it cannot decode (a malformed chunk
    size, say) becomes UnreadablePostError, a 400, not a crash; an ApiError
    the server raises (too many chunks) is answered as it is.
    """

    def __init__(self, stream, limit: int) -> None:
        self.stream = stream
        self.limit = limit
        self.count = 0

    def read(self, size: int | None = -1) -> bytes:
        return self._counted(self._call(self.stream.read, self._room(size)))

    def readline(self, size: int | None = -1) -> bytes:
        return self._counted(self._call(self.stream.readline, self._room(size)))

    def _room(self, size: int | None) -> int:
        room = self.limit + 1 - self.count
        return room if size is None or size < 0 or size > room else size

    @staticmethod
    def _call(read, size: int) -> bytes:
        try:
            return read(size)
        except (OSError, errors.ApiError):
            raise  # the server's own refusal (config/gunicorn_http: too many chunks) stands
        except Exception as exc:
            raise UnreadablePostError(f"unreadable request body: {type(exc).__name__}") from exc

    def _counted(self, data: bytes) -> bytes:
        self.count += len(data)
        if self.count > self.limit:
            raise errors.FileTooLarge(received=Received(b"", size=self.count))
        return data


class CappedInput:
    """WSGI middleware: an API body without a Content-Length is read through a `CappedBodyStream`.

    Under WSGI, Django reads CONTENT_LENGTH bytes of the body, so a chunked
    upload looks empty. When the server marks its input as terminated (it
    ends where the body ends, as gunicorn's does), the input is wrapped,
    and CONTENT_LENGTH set one byte past the limit: Django reads at most
    that many, so the stream sees a body go over and refuses it (413)
    rather than handing the parsers a body cut at the limit. It is an
    upper bound, not a promise: the stream ends where the body ends.
    PEP 3333 lets middleware replace `wsgi.input`; other requests are left
    alone.
    """

    def __init__(self, application, *, api_prefix: str) -> None:
        self.application = application
        self.api_prefix = api_prefix

    def __call__(self, environ: dict, start_response):
        if self._unsized_api_body(environ):
            environ["wsgi.input"] = CappedBodyStream(environ["wsgi.input"], body_limit())
            environ["CONTENT_LENGTH"] = str(body_limit() + 1)
        return self.application(environ, start_response)

    def _unsized_api_body(self, environ: dict) -> bool:
        return (
            environ.get("PATH_INFO", "").startswith(self.api_prefix)
            and not environ.get("CONTENT_LENGTH")
            and bool(environ.get("wsgi.input_terminated"))
            and "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        )
