"""What one API request's steps learn, as values handed forward (see pipeline.py).

Each step returns its value and the next takes it; none is written on
afterwards. The audit step builds the request's one row from them and the
outcome. Nothing here is trusted input: every value came from the client or
was derived from what it sent.
"""

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the decoder process imports the errors, hence this module, without Django
    from django.http import HttpRequest


@dataclass(frozen=True)
class Arrival:
    """The request as it arrived, before any step ran."""

    request_id: str
    client_ip: str
    path: str = ""
    user_agent: str = ""
    # The request's own Content-Type header (multipart/form-data; boundary=...).
    content_type: str = ""

    @classmethod
    def of(cls, request: "HttpRequest", *, client_ip: str) -> "Arrival":
        return cls(
            request_id=request.request_id,
            client_ip=client_ip,
            path=request.path_info,
            user_agent=request.headers.get("User-Agent", ""),
            content_type=request.headers.get("Content-Type", ""),
        )


@dataclass(frozen=True)
class Admission:
    """Who the admitted client is, and what its plan's counters said.

    `api_key_id` is the id of the API key it presented, if any; `bucket` what
    it is counted under; `terms` its plan (admission.plans.Terms); `tally`
    the counters after this request (admission.counters.Tally; None when the
    cache could not be reached).
    """

    api_key_id: str | None = None
    bucket: str = ""
    terms: object = None
    tally: object = None


class UploadForm(StrEnum):
    """How the image came: a multipart form's field `file`, or the request body itself."""

    MULTIPART = "multipart"
    RAW = "raw"


@dataclass(frozen=True)
class Received:
    """The uploaded file as received: its bytes and what the client said of them.

    `size` is what was read, also for an upload refused while streaming
    (then `data` is empty: the bytes were dropped). `content_type` is the
    type as the client sent it (the part's, or the raw body's header),
    parameters and all; "" when it sent none. `via` is how it came.
    """

    data: bytes = field(repr=False)
    filename: str = ""
    content_type: str = ""
    size: int = 0
    via: str = ""


@dataclass(frozen=True)
class Examined:
    """What the checks learned about the bytes, whether or not they were accepted."""

    sha256: str = ""
    detected_format: str = ""
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True)
class Classified:
    """The answer's top prediction and the model that made it."""

    top_label: str
    top_score: float
    model_version: str
    # The model's input square's 64-bit difference hash, in hex (imaging.fingerprint).
    fingerprint: str = ""


@dataclass(frozen=True)
class Outcome:
    """How the request ended: the audit's outcome code and the HTTP status."""

    code: str
    status: int
    flagged: bool = False


@dataclass(frozen=True)
class Story:
    """Everything a request's steps learned, and how it ended: the audit step's input."""

    arrival: Arrival
    outcome: Outcome
    latency_ms: float = 0.0
    admission: Admission = Admission()
    received: Received | None = None
    examined: Examined | None = None
    classified: Classified | None = None
