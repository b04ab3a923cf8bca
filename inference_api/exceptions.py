"""The one place where failures become the JSON error contract.

Every error body is `{"error", "code", "request_id"}`; the same id is in the
`X-Request-ID` header and in the server's log line. Library messages never
reach the client: unexpected exceptions answer "Internal error" and their
traceback goes to the log.
"""

import logging

from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import Http404, HttpRequest, JsonResponse, UnreadablePostError
from django.http.multipartparser import MultiPartParserError
from rest_framework import exceptions as drf

from analysis.errors import ModelUnavailable

from . import errors
from .context import api_context
from .operations.logging import current_request_id

logger = logging.getLogger(__name__)

_DRF_ERRORS: dict[type[Exception], type[errors.ApiError]] = {
    drf.UnsupportedMediaType: errors.UnsupportedMediaType,
    drf.ParseError: errors.MalformedRequest,
    drf.MethodNotAllowed: errors.MethodNotAllowed,
    drf.NotFound: errors.NotFound,
    drf.NotAcceptable: errors.NotAcceptable,
    Http404: errors.NotFound,
    # Django's multipart parser, reached through request.data.
    RequestDataTooBig: errors.FileTooLarge,
    TooManyFilesSent: errors.TooManyFiles,
    TooManyFieldsSent: errors.MalformedRequest,
    MultiPartParserError: errors.MalformedRequest,
    UnreadablePostError: errors.MalformedRequest,
}


def error_response(request: HttpRequest, exc: errors.ApiError) -> JsonResponse:
    """Render `exc` as the error contract; an API request's context keeps it for the audit step."""
    context = api_context(request)
    if context is not None:
        context.refuse(exc)
    response = JsonResponse(
        {"error": exc.message, "code": exc.code, "request_id": current_request_id.get()},
        status=exc.status,
    )
    if exc.retry_after is not None:
        response["Retry-After"] = str(exc.retry_after)
    # The context keeps the error until the audit; its traceback's frames would
    # keep what they held with it (a refused body's 10 MB: upload/memory.py).
    exc.__traceback__ = None
    return response


def as_api_error(exc: Exception) -> errors.ApiError | None:
    """The API error a known exception stands for, or None if it is unexpected."""
    if isinstance(exc, errors.ApiError):
        return exc
    for drf_type, api_type in _DRF_ERRORS.items():
        if isinstance(exc, drf_type):
            return api_type()
    if isinstance(exc, ModelUnavailable):
        return errors.ModelUnavailable()
    if isinstance(exc, drf.ValidationError):
        return errors.MalformedRequest()
    return None


def api_exception_handler(exc: Exception, context: dict) -> JsonResponse:
    """DRF's EXCEPTION_HANDLER: every exception becomes the error contract."""
    # DRF's Request hands attribute reads (api, path) to Django's request.
    request = context["request"]
    api_error = as_api_error(exc)
    if api_error is None:
        logger.error("Unhandled exception in %s", request.path, exc_info=exc)
        api_error = errors.InternalError()
    return error_response(request, api_error)


def handler400(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """Django's 400 view (a Host not in ALLOWED_HOSTS, a suspicious request), in the contract."""
    return error_response(request, errors.BadHttpRequest())


def handler404(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """Django's 404 view, in the error contract."""
    return error_response(request, errors.NotFound())


def handler500(request: HttpRequest) -> JsonResponse:
    """Django's 500 view: the traceback was logged by Django with the request id."""
    return error_response(request, errors.InternalError())
