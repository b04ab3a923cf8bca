"""CORS for the API (django-cors-headers), with preflights admitted like any request."""

from corsheaders.middleware import CorsMiddleware
from django.http import HttpRequest
from django.http.response import HttpResponseBase


class ApiCorsMiddleware(CorsMiddleware):
    """django-cors-headers' middleware, except that it never answers a preflight itself.

    The stock middleware answers a CORS preflight before anything behind it
    runs: a flood of preflights would be neither rate-limited nor audited.
    Here the preflight goes on to the API pipeline (pipeline.py), which charges the
    client and answers OPTIONS (or refuses it); the CORS headers are then
    added to that answer as to any other.
    """

    def check_preflight(self, request: HttpRequest) -> HttpResponseBase | None:
        request._cors_enabled = self.is_enabled(request)
        return None
