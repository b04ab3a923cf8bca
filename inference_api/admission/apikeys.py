"""API keys (djangorestframework-api-key): who is calling, when they say so.

Keys are stored hashed; the client sends `X-Api-Key: <prefix>.<secret>`.
A key is optional unless REQUIRE_API_KEY is on, but a key that is presented
must be valid (not unknown, revoked or expired): a client that sends a wrong
key gets 401 rather than silently falling back to anonymous limits.
The key itself is never logged nor stored; only its public prefix and its
row id (prefix and hash) identify it.
"""

from django.conf import settings
from django.http import HttpRequest
from rest_framework_api_key.models import APIKey

from .. import errors

# A key is "<8 chars>.<32 chars>"; anything much longer is not one of ours
# and is refused before it reaches the database.
MAX_KEY_LENGTH = 100


def presented_key(request: HttpRequest) -> str:
    """The raw key from the X-Api-Key header, or "" when none was sent."""
    return request.META.get(settings.API_KEY_CUSTOM_HEADER, "").strip()


def find_api_key(raw_key: str) -> APIKey | None:
    """The usable key that `raw_key` is, or None (unknown, revoked, expired, malformed)."""
    if not raw_key or len(raw_key) > MAX_KEY_LENGTH or "." not in raw_key:
        return None
    try:
        api_key = APIKey.objects.get_from_key(raw_key)
    except APIKey.DoesNotExist:
        return None
    if api_key.has_expired:
        return None
    return api_key


def authenticate_api_key(request: HttpRequest) -> APIKey | None:
    """The request's valid API key, None when anonymous access is allowed.

    Raises InvalidApiKey (401) when a key is presented but not valid, or
    when none is presented and REQUIRE_API_KEY is on.
    """
    raw_key = presented_key(request)
    if not raw_key:
        if settings.REQUIRE_API_KEY:
            raise errors.InvalidApiKey()
        return None
    api_key = find_api_key(raw_key)
    if api_key is None:
        raise errors.InvalidApiKey()
    return api_key
