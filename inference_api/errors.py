"""The API's domain errors: each has an HTTP status and a stable code.

Raise these anywhere on the HTTP boundary; `exceptions.api_exception_handler`
turns them into the JSON error contract. The message is written for the
client and must never carry a library's own error text.
"""

from http import HTTPStatus
from typing import Self

from .context import Admission, Examined, Received

# What every client that sent the wrong thing should do instead, in one sentence.
HOW_TO_SEND = (
    "Send one JPEG, PNG or WebP image in the multipart field 'file', "
    "or as the request body with its type."
)


class ApiError(Exception):
    """A request the API refuses, with what the client is told.

    An error is immutable: the step that raises it passes what it knew of
    the request (`received`, `examined`, `admission`), and a step that
    learns more raises `carrying(...)`, a new error of the same kind.
    """

    status: int = HTTPStatus.BAD_REQUEST
    code: str = "bad_request"
    message: str = "Bad request."
    # Rejections whose bytes are kept in quarantine for review.
    flagged: bool = False
    # Seconds a client should wait before retrying (the Retry-After header), if any.
    retry_after: int | None = None

    def __init__(
        self,
        message: str | None = None,
        *,
        retry_after: int | None = None,
        received: Received | None = None,
        examined: Examined | None = None,
        admission: Admission | None = None,
    ) -> None:
        super().__init__(message or self.message)
        self.message = message or self.message
        if retry_after is not None:
            self.retry_after = retry_after
        self.received = received
        self.examined = examined
        self.admission = admission
        self._sealed = True

    def __setattr__(self, name: str, value: object) -> None:
        # Python's own attributes (__traceback__, __cause__, ...) stay writable.
        if getattr(self, "_sealed", False) and not name.startswith("__"):
            raise AttributeError(f"{type(self).__name__} is immutable; raise carrying(...)")
        super().__setattr__(name, value)

    def carrying(
        self,
        *,
        received: Received | None = None,
        examined: Examined | None = None,
        admission: Admission | None = None,
    ) -> Self:
        """The same refusal, also carrying what a later step learned of the request."""
        return type(self)(
            self.message,
            retry_after=self.retry_after,
            received=received or self.received,
            examined=examined or self.examined,
            admission=admission or self.admission,
        )


class NoFile(ApiError):
    code = "no_file"
    message = HOW_TO_SEND


class TooManyFiles(ApiError):
    code = "too_many_files"
    message = "Send exactly one image per request, in the multipart field 'file'."


class MalformedRequest(ApiError):
    code = "malformed_request"
    message = (
        "The multipart body could not be parsed; send the image in the field 'file' "
        "of a well-formed form, or as the request body with its type."
    )


class InvalidApiKey(ApiError):
    status = HTTPStatus.UNAUTHORIZED
    code = "invalid_api_key"
    message = "Send a valid API key in the X-Api-Key header."


class Blocked(ApiError):
    status = HTTPStatus.FORBIDDEN
    code = "blocked"
    message = "This client is blocked; contact the service's operators if this is a mistake."


class NotFound(ApiError):
    status = HTTPStatus.NOT_FOUND
    code = "not_found"
    message = "Not found; images are classified by POST /api/v1/analyze/."


class MethodNotAllowed(ApiError):
    status = HTTPStatus.METHOD_NOT_ALLOWED
    code = "method_not_allowed"
    message = "Method not allowed; send the image with POST."


class FileTooLarge(ApiError):
    status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    code = "file_too_large"
    message = "The upload is larger than the byte limit; send a smaller or more compressed image."


class UnsupportedMediaType(ApiError):
    status = HTTPStatus.UNSUPPORTED_MEDIA_TYPE
    code = "unsupported_media_type"
    message = HOW_TO_SEND


class ContentTypeMismatch(ApiError):
    status = HTTPStatus.UNSUPPORTED_MEDIA_TYPE
    code = "content_type_mismatch"
    message = "The file's bytes are not of the type it declares; declare the right type, or none."
    flagged = True


class InvalidImage(ApiError):
    status = HTTPStatus.UNPROCESSABLE_ENTITY
    code = "invalid_image"
    message = "The file is not a complete, decodable image; send the original image file."
    flagged = True


class ImageTooLarge(ApiError):
    status = HTTPStatus.UNPROCESSABLE_ENTITY
    code = "image_too_large"
    message = "The image is wider or taller than allowed; scale it down and send it again."
    flagged = True


class DecompressionBomb(ApiError):
    status = HTTPStatus.UNPROCESSABLE_ENTITY
    code = "decompression_bomb"
    message = "The image declares more pixels than allowed; scale it down and send it again."
    flagged = True


class TooManyScans(ApiError):
    status = HTTPStatus.UNPROCESSABLE_ENTITY
    code = "too_many_scans"
    message = "The JPEG has more progressive scans than allowed; save it as a baseline JPEG."
    flagged = True


class TooCostly(ApiError):
    """The upload would cost more to decode than one upload may (structure or budget)."""

    status = HTTPStatus.UNPROCESSABLE_ENTITY
    code = "too_costly"
    message = "The image would cost more to decode than allowed; send a smaller image."
    flagged = True


class RateLimited(ApiError):
    status = HTTPStatus.TOO_MANY_REQUESTS
    code = "rate_limited"
    message = "Too many requests; retry after the seconds in Retry-After."


class QuotaExceeded(ApiError):
    """A daily or monthly allowance of the client's plan is used up."""

    status = HTTPStatus.TOO_MANY_REQUESTS
    code = "quota_exceeded"
    message = "This client's allowance is used up; retry after the seconds in Retry-After."


class Overloaded(ApiError):
    status = HTTPStatus.SERVICE_UNAVAILABLE
    code = "overloaded"
    message = "The service is busy; retry shortly."
    # About one forward pass or two.
    retry_after = 1


class LimiterUnavailable(ApiError):
    """The rate-limit store cannot be reached and the service fails closed."""

    status = HTTPStatus.SERVICE_UNAVAILABLE
    code = "service_unavailable"
    message = "The service is temporarily unavailable; retry shortly."
    retry_after = 5


class ModelUnavailable(ApiError):
    status = HTTPStatus.SERVICE_UNAVAILABLE
    code = "model_unavailable"
    message = "The model is not ready; retry shortly."
    retry_after = 5


class NotReady(ApiError):
    """/readyz: a part this process needs (model, database, cache) is not usable."""

    status = HTTPStatus.SERVICE_UNAVAILABLE
    code = "not_ready"
    message = "Not ready."


class MetricsForbidden(ApiError):
    """/metrics asked from outside METRICS_ALLOWED_NETWORKS without the token."""

    status = HTTPStatus.FORBIDDEN
    code = "forbidden"
    message = "Metrics are not available to this client."


class OriginNotAllowed(ApiError):
    """A browser page on another origin than CORS_ALLOWED_ORIGINS (or the API's own) sent this."""

    status = HTTPStatus.FORBIDDEN
    code = "origin_not_allowed"
    message = (
        "Web pages on this origin may not call the API; call it from your own server, "
        "or ask for the origin to be allowed."
    )


class InternalError(ApiError):
    status = HTTPStatus.INTERNAL_SERVER_ERROR
    code = "internal_error"
    message = "Internal error"


class NotAcceptable(ApiError):
    """The client's Accept header admits no JSON answer (DRF's content negotiation)."""

    status = HTTPStatus.NOT_ACCEPTABLE
    code = "not_acceptable"
    message = "Answers are JSON: send Accept: application/json, or no Accept header."


class BadHttpRequest(ApiError):
    """The server could not read the request as HTTP/1.1 (answered by gunicorn itself)."""

    code = "bad_http_request"
    message = "The request is not well-formed HTTP/1.1; send a standard request."


class UnsupportedTransferCoding(ApiError):
    """A Transfer-Encoding other than chunked: a client's mistake, so 400, not 501."""

    code = "unsupported_transfer_coding"
    message = "Only Transfer-Encoding: chunked is accepted; or send Content-Length."


class RequestLineTooLong(ApiError):
    status = HTTPStatus.REQUEST_URI_TOO_LONG
    code = "request_line_too_long"
    message = "The request line is longer than allowed; send a shorter URL."


class HeadersTooLarge(ApiError):
    status = HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE
    code = "headers_too_large"
    message = "The request has more or larger header fields than allowed; send fewer."


class TooManyChunks(ApiError):
    """A chunked body split into more chunks than its size needs (each costs the worker)."""

    code = "too_many_chunks"
    message = "The chunked body has too many chunks; send Content-Length or larger chunks."


def all_errors() -> list[type[ApiError]]:
    """Every ApiError class, in the order they are defined here: the one list of codes."""
    found, pending = [], [ApiError]
    while pending:
        cls = pending.pop(0)
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def error_class(code: str) -> type[ApiError]:
    """The ApiError class whose stable code is `code`; InternalError when none is."""
    return next((cls for cls in all_errors() if cls.code == code), InternalError)
