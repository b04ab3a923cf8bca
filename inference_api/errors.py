"""The API's domain errors: each has an HTTP status and a stable code.

Raise these anywhere on the HTTP boundary; `exceptions.api_exception_handler`
turns them into the JSON error contract. The message is written for the
client and must never carry a library's own error text.
"""

from http import HTTPStatus
from typing import Self

from .facts import Examined, Received


class ApiError(Exception):
    """A request the API refuses, with what the client is told.

    A step that refuses an upload hands on what it had learned of it by
    `learned(...)`, so the audit step records it with the refusal.
    """

    status: int = HTTPStatus.BAD_REQUEST
    code: str = "bad_request"
    message: str = "Bad request."
    # Rejections whose bytes are kept in quarantine for review.
    flagged: bool = False
    # Seconds a client should wait before retrying (the Retry-After header), if any.
    retry_after: int | None = None

    def __init__(self, message: str | None = None, *, retry_after: int | None = None) -> None:
        super().__init__(message or self.message)
        self.message = message or self.message
        if retry_after is not None:
            self.retry_after = retry_after
        self.received: Received | None = None
        self.examined: Examined | None = None

    def learned(
        self, *, received: Received | None = None, examined: Examined | None = None
    ) -> Self:
        """This error, carrying what was learned of the upload before it was refused."""
        self.received = received or self.received
        self.examined = examined or self.examined
        return self


class NoFile(ApiError):
    code = "no_file"
    message = "Send exactly one image in the multipart field 'file'."


class TooManyFiles(ApiError):
    code = "too_many_files"
    message = "Send exactly one file per request."


class MalformedRequest(ApiError):
    code = "malformed_request"
    message = "The request body could not be parsed as multipart/form-data."


class InvalidApiKey(ApiError):
    status = HTTPStatus.UNAUTHORIZED
    code = "invalid_api_key"
    message = "A valid API key is required in the X-Api-Key header."


class Blocked(ApiError):
    status = HTTPStatus.FORBIDDEN
    code = "blocked"
    message = "This client is blocked."


class NotFound(ApiError):
    status = HTTPStatus.NOT_FOUND
    code = "not_found"
    message = "Not found."


class MethodNotAllowed(ApiError):
    status = HTTPStatus.METHOD_NOT_ALLOWED
    code = "method_not_allowed"
    message = "Method not allowed."


class FileTooLarge(ApiError):
    status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    code = "file_too_large"
    message = "The upload is larger than the limit."


class UnsupportedMediaType(ApiError):
    status = HTTPStatus.UNSUPPORTED_MEDIA_TYPE
    code = "unsupported_media_type"
    message = "Only image/jpeg, image/png and image/webp are accepted."


class ContentTypeMismatch(ApiError):
    status = HTTPStatus.UNSUPPORTED_MEDIA_TYPE
    code = "content_type_mismatch"
    message = "The file's bytes are not of the declared type."
    flagged = True


class InvalidImage(ApiError):
    status = HTTPStatus.UNPROCESSABLE_ENTITY
    code = "invalid_image"
    message = "The file is not a complete, decodable image."
    flagged = True


class ImageTooLarge(ApiError):
    status = HTTPStatus.UNPROCESSABLE_ENTITY
    code = "image_too_large"
    message = "The image's dimensions are over the limit."
    flagged = True


class DecompressionBomb(ApiError):
    status = HTTPStatus.UNPROCESSABLE_ENTITY
    code = "decompression_bomb"
    message = "The image declares more pixels than allowed."
    flagged = True


class TooManyScans(ApiError):
    status = HTTPStatus.UNPROCESSABLE_ENTITY
    code = "too_many_scans"
    message = "The JPEG has more progressive scans than allowed."
    flagged = True


class TooCostly(ApiError):
    """The upload would cost more to decode than one upload may (structure or budget)."""

    status = HTTPStatus.UNPROCESSABLE_ENTITY
    code = "too_costly"
    message = "The image would cost more to decode than allowed."
    flagged = True


class RateLimited(ApiError):
    status = HTTPStatus.TOO_MANY_REQUESTS
    code = "rate_limited"
    message = "Too many requests; retry later."


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
