"""One API request's context: the values its steps learn, and the carrier that holds them.

The pipeline creates an `ApiContext` for every request under the API
prefix and hangs it on the request as `request.api`. Each step hands its
frozen value to it once (`add`): the admission, the upload as received,
what the checks learned, the classification; a refusal is `refuse`d with
the error, which carries what the step that raised it knew. When the
answer is sent the pipeline freezes the context into a `RequestRecord`,
the audit step's one input. Nothing here is trusted input: every value
came from the client or was derived from what it sent.
"""

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the decoder process imports the errors, hence this module, without Django
    from django.http import HttpRequest

    from .errors import ApiError


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
    def of(cls, request: "HttpRequest", *, request_id: str, client_ip: str) -> "Arrival":
        return cls(
            request_id=request_id,
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
class RequestRecord:
    """Everything a request's steps learned, and how it ended: the audit step's input."""

    arrival: Arrival
    outcome: Outcome
    latency_ms: float = 0.0
    admission: Admission = Admission()
    received: Received | None = None
    examined: Examined | None = None
    classified: Classified | None = None


# The values a step hands to the context, each under its slot.
STEP_VALUES = {Admission: "admission", Received: "received", Examined: "examined",
               Classified: "classified"}


class ContextError(RuntimeError):
    """A step handed the context a value it already holds: two steps claim one fact."""


@dataclass
class ApiContext:
    """The one carrier of an API request (`request.api`): each step's value, added once.

    `error` is the refusal the request was answered with, if any; what it
    carried (the upload as received, what the checks learned, the
    admission) fills the slots no step had filled before it.
    """

    arrival: Arrival
    admission: Admission = Admission()
    received: Received | None = None
    examined: Examined | None = None
    classified: Classified | None = None
    error: "ApiError | None" = None
    _filled: set[str] = field(default_factory=set, init=False, repr=False)

    def add(self, *values: object) -> None:
        """Hand on each step's frozen value; a second value for one slot is a bug."""
        for value in values:
            slot = STEP_VALUES[type(value)]
            if slot in self._filled:
                raise ContextError(f"the request's {slot} was already added")
            self._filled.add(slot)
            setattr(self, slot, value)

    def refuse(self, error: "ApiError") -> None:
        """The request is answered with `error`; keep it and what it knew of the request."""
        if self.error is not None:
            return  # the first refusal is the answer's; a later one only re-renders it
        self.error = error
        for value in (error.admission, error.received, error.examined):
            if value is not None and STEP_VALUES[type(value)] not in self._filled:
                self.add(value)

    def record(self, outcome: Outcome, latency_ms: float) -> RequestRecord:
        """The finished request, frozen for the audit step."""
        return RequestRecord(
            arrival=self.arrival,
            outcome=outcome,
            latency_ms=latency_ms,
            admission=self.admission,
            received=self.received,
            examined=self.examined,
            classified=self.classified,
        )


def api_context(request: "HttpRequest") -> ApiContext | None:
    """The request's context, or None for a request outside the API (the admin, a probe)."""
    context = getattr(request, "api", None)
    return context if isinstance(context, ApiContext) else None
