"""Middleware that decides what a request's edge may claim, before anything else runs.

Both look only at the peer and the client address as clients.py resolves
them, and at `path_info`, the path the URL resolver routes on.
"""

from collections.abc import Callable
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from .. import errors
from ..exceptions import error_response
from .clients import IPNetwork, address_in, client_ip, parse_networks, peer_is_trusted_proxy

Handler = Callable[[HttpRequest], HttpResponse]
ADMIN_PREFIX = "/admin/"
FORWARDED_PROTO = "HTTP_X_FORWARDED_PROTO"


class ForwardedProtoMiddleware:
    """Drops X-Forwarded-Proto unless the peer is one of TRUSTED_PROXIES.

    Django's SECURE_PROXY_SSL_HEADER believes the header from anyone: a
    client that reaches gunicorn directly could claim HTTPS, and the secure
    redirect and `request.is_secure()` would take its word. Placed before
    SecurityMiddleware, so everything after sees only a proxy's claim.
    """

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if FORWARDED_PROTO in request.META and not peer_is_trusted_proxy(request):
            del request.META[FORWARDED_PROTO]
        return self.get_response(request)


@lru_cache(maxsize=8)
def _admin_networks(cidrs: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return parse_networks(cidrs)


def admin_allowed(request: HttpRequest) -> bool:
    """Whether this client may reach the admin: ADMIN_ALLOWED_NETWORKS, empty = anyone."""
    cidrs = tuple(settings.ADMIN_ALLOWED_NETWORKS)
    return not cidrs or address_in(client_ip(request), _admin_networks(cidrs))


class AdminNetworkMiddleware:
    """Answers 404 `not_found` for /admin/ to clients outside ADMIN_ALLOWED_NETWORKS.

    A 404 rather than a 403: from elsewhere, the admin is not there at all,
    and its login form (and the password hashing behind it) is never reached.
    """

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info.startswith(ADMIN_PREFIX) and not admin_allowed(request):
            return error_response(request, errors.NotFound())
        return self.get_response(request)
