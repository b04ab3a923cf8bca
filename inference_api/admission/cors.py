"""CORS for the API (django-cors-headers), with preflights admitted like any request.

CORS only stops a page on another origin from *reading* the answer; its
browser still sends simple requests (a form's POST needs no preflight). So a
hostile page could make its visitors' browsers upload hostile files, from
the visitors' addresses: spending their rate limit, and blocking them (or
their office's NAT) automatically. `foreign_origin` lets the gate refuse
such a request before anything is counted against anyone.
"""

from corsheaders.middleware import CorsMiddleware
from django.conf import settings
from django.http import HttpRequest
from django.http.response import HttpResponseBase


class ApiCorsMiddleware(CorsMiddleware):
    """django-cors-headers' middleware, except that it never answers a preflight itself.

    The stock middleware answers a CORS preflight before anything behind it
    runs: a flood of preflights would be neither rate-limited nor audited.
    Here the preflight goes on to the API pipeline (pipeline.py), which charges the
    client and answers OPTIONS (or refuses it); the CORS headers are then
    added to that answer as to any other (`add_response_headers` decides
    whether CORS applies to the request itself when nothing was noted
    before). `check_preflight` is the library's public method for that
    first answer; tests/inference_api/test_cors.py fails if it stops being called.
    """

    def check_preflight(self, request: HttpRequest) -> HttpResponseBase | None:
        return None


def foreign_origin(request: HttpRequest) -> bool:
    """Whether a browser sent this from a page on an origin that may not call the API.

    Browsers send `Origin` with every POST, and with any cross-origin
    request; other clients usually send none, and are not concerned. The
    API's own origin (its docs page) and CORS_ALLOWED_ORIGINS may call it;
    `null` (sandboxed frames, files) may not.
    """
    origin = request.headers.get("Origin")
    if origin is None:
        return False
    if origin in settings.CORS_ALLOWED_ORIGINS:
        return False
    return origin != f"{request.scheme}://{request.get_host()}"
