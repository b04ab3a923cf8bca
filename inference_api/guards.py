"""Step 1 of the request flow: who may call, and how often."""

from django.http import HttpRequest

from .records import RequestRecord


def guard_client(request: HttpRequest, record: RequestRecord) -> None:
    """Refuse a blocked, unauthenticated or over-limit client by raising an ApiError."""
