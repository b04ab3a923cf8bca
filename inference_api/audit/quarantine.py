"""The quarantine: the bytes of flagged uploads, kept once each for review.

Bytes go to a private storage that nothing serves by URL, under a random
name; the client's filename never reaches it. What is kept is bounded by the
budgets of `quarantine_budget`.
"""

import hashlib
import logging
import secrets
from dataclasses import dataclass

from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.db import IntegrityError, transaction

from ..models import FlaggedUpload, QuarantinedFile
from . import quarantine_budget
from .preview import preview_png

logger = logging.getLogger(__name__)

QUARANTINE_STORAGE = "quarantine"


@dataclass(frozen=True)
class Placement:
    """Where a flagged upload's bytes went: a file, or why they were not kept."""

    sha256: str
    file: QuarantinedFile | None = None
    not_stored: str = FlaggedUpload.NotStored.STORED


def quarantine_storage():
    """The private storage of flagged bytes. Nothing serves it by URL."""
    return storages[QUARANTINE_STORAGE]


def keep(data: bytes | None, *, client_key: str, outcome: str = "") -> Placement:
    """Keep a flagged upload's bytes once per SHA-256, within the budgets, and its preview.

    The hash is computed here from the bytes themselves, not taken from the
    request. Storage failures are logged and reported in the Placement: the
    audit row is written either way. A refusal whose bytes decode gets what
    the model saw beside them (`preview`).
    """
    if not data:
        return Placement(sha256="", not_stored=FlaggedUpload.NotStored.NO_BYTES)
    sha256 = hashlib.sha256(data).hexdigest()
    existing = QuarantinedFile.objects.filter(sha256=sha256).first()
    if existing is not None:
        return Placement(sha256=sha256, file=existing)
    preview = preview_png(data, outcome)
    refusal = quarantine_budget.admit(client_key, len(data) + len(preview or b""))
    if refusal:
        return Placement(sha256=sha256, not_stored=refusal)
    try:
        stored = _store(data, sha256, client_key, preview)
        quarantine_budget.observe()
        return Placement(sha256=sha256, file=stored)
    except Exception:
        logger.exception("quarantine storage failed for %s", sha256)
        return Placement(sha256=sha256, not_stored=FlaggedUpload.NotStored.STORAGE_ERROR)


def _store(data: bytes, sha256: str, client_key: str, preview: bytes | None) -> QuarantinedFile:
    storage = quarantine_storage()
    name = storage.save(f"{secrets.token_hex(16)}.bin", ContentFile(data))
    seen = storage.save(f"{secrets.token_hex(16)}.png", ContentFile(preview)) if preview else ""
    try:
        with transaction.atomic():
            return QuarantinedFile.objects.create(
                sha256=sha256,
                storage_name=name,
                preview_name=seen,
                preview_size=len(preview or b""),
                size=len(data),
                client_key=client_key,
            )
    except IntegrityError:
        # Another worker kept the same bytes first: link to its copy.
        for stored in filter(None, (name, seen)):
            storage.delete(stored)
        return QuarantinedFile.objects.get(sha256=sha256)


def quarantined_file_open(file: QuarantinedFile):
    """Open a quarantined file's bytes for reading (binary, never decoded)."""
    return quarantine_storage().open(file.storage_name, "rb")


def preview_open(file: QuarantinedFile):
    """Open the PNG of what the model saw (made by us from the decoder's pixels)."""
    return quarantine_storage().open(file.preview_name, "rb")


def quarantined_files_delete(file_ids: list[int]) -> int:
    """Delete the given files that no flagged upload points to any more, bytes first.

    Returns how many were deleted. A file whose bytes cannot be deleted keeps
    its row, so the next run tries again instead of leaving bytes untracked.
    """
    deleted = 0
    storage = quarantine_storage()
    for file in QuarantinedFile.objects.filter(id__in=file_ids, uploads__isnull=True):
        try:
            storage.delete(file.storage_name)
            if file.preview_name:
                storage.delete(file.preview_name)
        except Exception:
            logger.exception("could not delete quarantined file %s", file.storage_name)
            continue
        file.delete()
        deleted += 1
    return deleted


def flagged_upload_review(*, upload: FlaggedUpload, status: str, user) -> None:
    """Record a reviewer's verdict on a flagged upload."""
    upload.mark_reviewed(status, user)
    upload.save(update_fields=["review_status", "reviewed_by", "reviewed_at"])
