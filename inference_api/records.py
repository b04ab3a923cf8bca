"""What is known about one API request, gathered as it is handled.

The view, validators and error handler fill a `RequestRecord`; the audit
middleware persists it once the response is decided, whatever the outcome.
"""

from dataclasses import dataclass, field

from django.http import HttpRequest

# The audit outcome of an OPTIONS request to the API (a CORS preflight, or a probe).
OPTIONS_OUTCOME = "options"


@dataclass
class RequestRecord:
    """Facts about one request to the API. Nothing here is trusted input."""

    request_id: str
    client_ip: str = ""
    rate_key: str = ""
    path: str = ""
    user_agent: str = ""
    api_key_id: str | None = None
    outcome: str = ""
    declared_content_type: str = ""
    filename: str = ""
    detected_format: str = ""
    bytes_received: int = 0
    width: int | None = None
    height: int | None = None
    sha256: str = ""
    top_label: str = ""
    top_score: float | None = None
    model_version: str = ""
    # The upload itself, kept in memory (bounded by the cap) for quarantine.
    upload: bytes | None = field(default=None, repr=False)
    flagged: bool = False


def record_for(request: HttpRequest) -> RequestRecord | None:
    """The record attached by the middleware, or None outside the API."""
    return getattr(request, "api_record", None)
