"""Helpers for the audit, quarantine and admin tests (engineer C's)."""

import hashlib
import uuid
from pathlib import Path

from inference_api.records import RequestRecord

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


def make_record(**fields) -> RequestRecord:
    """A request record as the middleware and the view would have filled it."""
    defaults = {
        "request_id": uuid.uuid4().hex,
        "client_ip": "203.0.113.7",
        "path": "/api/v1/analyze/",
        "user_agent": "pytest",
        "declared_content_type": "multipart/form-data; boundary=x",
    }
    return RequestRecord(**{**defaults, **fields})


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
