"""Factories for what tests build by hand: audit records and rows, uploads, the quarantine.

Two ways to an audit row, as the application has them:

- `make_record(...)` (or `hostile_record(...)` for a flagged rejection whose
  bytes were read) is what the pipeline's steps learned of one request;
  `audited(record, status)` hands its `RequestRecord` to the audit step
  (`audit.trail.audit`), which writes the row, the quarantine and the usage as
  it does for every request. Use it when what the step writes is the subject.
- `audit_row(...)` is one `AuditLog` row with plausible defaults, unsaved;
  `audit_rows_create(count, vary)` writes many at once. Use them for history
  that only has to exist (a console's charts, a big table, a purge).

`image_upload(...)` is an image as the `file` of a form posted with Django's
test client. Django's models and the audit step are imported when called,
so the module loads without settings (bench imports the package too).
"""

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inference_api.context import (
    Admission,
    Arrival,
    Classified,
    Examined,
    Outcome,
    Received,
    RequestRecord,
)

from .http import ANALYZE, upload_file
from .images.uploads import CONTENT_TYPES, encode

# A PNG signature followed by garbage: what a spoofed or corrupt upload looks like.
HOSTILE_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00not really a png" * 8
CLIENT_IP = "203.0.113.7"


# --- what the steps learned of one request, for the audit step --------------------------


@dataclass(frozen=True)
class FlatRequest:
    """What the pipeline's steps would have learned of one request, as flat fields."""

    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    client_ip: str = CLIENT_IP
    path: str = ANALYZE
    user_agent: str = "pytest"
    declared_content_type: str = "multipart/form-data; boundary=x"
    api_key_id: str | None = None
    outcome: str = ""
    flagged: bool = False
    upload: bytes | None = None
    filename: str = ""
    bytes_received: int = 0
    sha256: str = ""
    detected_format: str = ""
    width: int | None = None
    height: int | None = None
    top_label: str = ""
    top_score: float | None = None
    model_version: str = ""

    def finished(self, status: int, latency_ms: float = 1.0) -> RequestRecord:
        """The record the audit step is handed for this request, ending in `status`."""
        received = None
        if self.upload is not None or self.bytes_received:
            received = Received(
                data=self.upload or b"",
                filename=self.filename,
                content_type=self.declared_content_type,
                size=self.bytes_received,
            )
        examined = None
        if self.sha256 or self.detected_format or self.width is not None:
            examined = Examined(self.sha256, self.detected_format, self.width, self.height)
        classified = None
        if self.top_label:
            classified = Classified(self.top_label, self.top_score, self.model_version)
        return RequestRecord(
            arrival=Arrival(
                request_id=self.request_id,
                client_ip=self.client_ip,
                path=self.path,
                user_agent=self.user_agent,
                content_type=self.declared_content_type,
            ),
            outcome=Outcome(self.outcome, int(status), self.flagged),
            latency_ms=latency_ms,
            admission=Admission(self.api_key_id),
            received=received,
            examined=examined,
            classified=classified,
        )


def make_record(**fields: Any) -> FlatRequest:
    """A request as the pipeline's steps would have learned it."""
    return FlatRequest(**fields)


def hostile_record(
    data: bytes = HOSTILE_BYTES, outcome: str = "invalid_image", **fields: Any
) -> FlatRequest:
    """A record of a flagged rejection whose bytes were read (a PNG that is not one)."""
    return make_record(
        outcome=outcome,
        flagged=True,
        upload=data,
        bytes_received=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        detected_format="PNG",
        filename="../../etc/evil.png",
        **fields,
    )


def audited(record: FlatRequest, status: int, latency_ms: float = 1.0) -> FlatRequest:
    """Hand `record`, finished with `status`, to the audit step; return it.

    The step writes what it writes for a real request: the row (or its
    aggregate), the quarantine of a flagged upload, the usage.
    """
    from inference_api.audit import trail

    trail.audit(record.finished(status, latency_ms))
    return record


# --- rows that only have to exist ---------------------------------------------------------


def audit_row(**fields: Any):
    """One unsaved `AuditLog`: an accepted request from CLIENT_IP unless `fields` say otherwise.

    `client_key` follows `client_ip` as the application derives it (an IPv6
    address's /64) unless given.
    """
    from django.utils import timezone

    from inference_api.admission.clients import client_key_for
    from inference_api.models import AuditLog

    values = {
        "created_at": timezone.now(),
        "request_id": uuid.uuid4().hex,
        "client_ip": CLIENT_IP,
        "path": ANALYZE,
        "status": 200,
        "outcome": "ok",
        "latency_ms": 1.0,
        **fields,
    }
    values.setdefault("client_key", client_key_for(values["client_ip"]))
    return AuditLog(**values)


def audit_rows_create(
    count: int,
    vary: Callable[[int], dict[str, Any]] = lambda n: {},
    *,
    batch_size: int = 5000,
    **fields: Any,
) -> None:
    """Write `count` audit rows at once: `fields` in each, and `vary(n)`'s in the n-th."""
    from inference_api.models import AuditLog

    rows = (audit_row(**{**fields, **vary(n)}) for n in range(count))
    AuditLog.objects.bulk_create(rows, batch_size=batch_size)


# --- uploads ------------------------------------------------------------------------------


def image_upload(
    fmt: str = "PNG",
    size: tuple[int, int] = (64, 48),
    *,
    data: bytes | None = None,
    name: str | None = None,
    content_type: str | None = None,
):
    """An upload for Django's test client: a real `fmt` image of `size`, or `data` as it is.

    Named `photo.<fmt>` and declared as `fmt`'s type unless told otherwise.
    """
    payload = encode(fmt, size) if data is None else data
    declared = CONTENT_TYPES[fmt] if content_type is None else content_type
    return upload_file(payload, name or f"photo.{fmt.lower()}", declared)


# --- the quarantine the flagged rows' bytes go to ------------------------------------------


def use_tmp_quarantine(settings: Any, folder: Path) -> Path:
    """Point the quarantine storage at `folder` for one test (FileSystemStorage, no URL)."""
    folder.mkdir(parents=True, exist_ok=True)
    settings.STORAGES = {
        **settings.STORAGES,
        "quarantine": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(folder), "base_url": None},
        },
    }
    return folder


def stored_files(folder: Path) -> list[Path]:
    """The files under `folder`, sorted."""
    return sorted(p for p in folder.rglob("*") if p.is_file())


# --- the console's users ------------------------------------------------------------------

# What a reviewer is given in the console: read the trail, judge flagged uploads, block.
REVIEWER_PERMISSIONS = (
    "view_auditlog",
    "view_flaggedupload",
    "change_flaggedupload",
    "add_blockedclient",
    "view_blockedclient",
    "change_blockedclient",
)


def reviewer_user(password: str, permissions=REVIEWER_PERMISSIONS, username: str = "reviewer"):
    """A staff user with the reviewer's permissions (or `permissions`), saved."""
    from django.contrib.auth.models import Permission, User

    user = User.objects.create_user(username, password=password, is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=permissions))
    return user
