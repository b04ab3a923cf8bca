"""Helpers for the audit, quarantine and admin tests (engineer C's)."""

import hashlib
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from inference_api.context import (
    Admission,
    Arrival,
    Classified,
    Examined,
    Outcome,
    Received,
    RequestRecord,
)

# A PNG signature followed by garbage: what a spoofed or corrupt upload looks like.
HOSTILE_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00not really a png" * 8


def use_tmp_quarantine(settings, folder: Path) -> Path:
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
    return sorted(p for p in folder.rglob("*") if p.is_file())


@dataclass(frozen=True)
class Request:
    """What the pipeline's steps would have learned of one request, as flat fields."""

    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    client_ip: str = "203.0.113.7"
    path: str = "/api/v1/analyze/"
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

    def story(self, status: int, latency_ms: float = 1.0) -> RequestRecord:
        """The story the audit step is handed for this request, ending in `status`."""
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


def make_record(**fields) -> Request:
    """A request as the pipeline's steps would have learned it."""
    return Request(**fields)


def hostile_record(data: bytes = HOSTILE_BYTES, outcome: str = "invalid_image", **fields):
    """A record of a flagged rejection whose bytes were read."""
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
