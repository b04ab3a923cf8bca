"""manage.py purge_audit_logs: retention of the audit trail and its quarantined files.

Without `--yes` it only counts what it would delete (a dry run), as Zulip's
destructive commands do: a typo in `--older-than` costs nothing until the
operator confirms. Scheduled runs pass `--yes`.
"""

from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from inference_api.audit.quarantine import quarantined_files_delete
from inference_api.models import AuditLog, FlaggedUpload, QuarantinedFile


class Command(BaseCommand):
    help = (
        "Delete audit rows older than --older-than days, their flagged uploads, and the "
        "quarantined files no remaining flagged upload points to, in batches. Without --yes, "
        "only say what would be deleted."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            type=int,
            default=settings.AUDIT_RETENTION_DAYS,
            metavar="DAYS",
            help="Age in days past which rows go (default: AUDIT_RETENTION_DAYS).",
        )
        parser.add_argument("--batch-size", type=int, default=1000, metavar="N")
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--yes", action="store_true", help="Delete for real.")
        mode.add_argument(
            "--dry-run", action="store_true", help="Count, delete nothing (the default)."
        )

    def handle(self, *args, older_than: int, batch_size: int, yes: bool, **options) -> None:
        if older_than < 1:
            raise CommandError("--older-than must be at least 1 day.")
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        cutoff = timezone.now() - timedelta(days=older_than)
        if not yes:
            self._report_dry_run(cutoff)
            return
        rows = files = batch = 0
        while ids := list(_old_rows(cutoff).values_list("id", flat=True)[:batch_size]):
            batch += 1
            deleted_rows, deleted_files = _purge_batch(ids)
            rows += deleted_rows
            files += deleted_files
            self.stdout.write(
                f"batch {batch}: {deleted_rows} rows, {deleted_files} files "
                f"(total {rows} rows, {files} files)"
            )
        files += quarantined_files_delete(list(_orphan_files(cutoff).values_list("id", flat=True)))
        self.stdout.write(
            self.style.SUCCESS(
                f"Deleted {rows} audit rows and {files} quarantined files "
                f"older than {cutoff:%Y-%m-%d %H:%M} UTC."
            )
        )

    def _report_dry_run(self, cutoff) -> None:
        rows = _old_rows(cutoff).count()
        flagged = FlaggedUpload.objects.filter(audit__created_at__lt=cutoff).count()
        files = _files_only_old(cutoff).count() + _orphan_files(cutoff).count()
        self.stdout.write(
            f"Dry run: would delete {rows} audit rows, {flagged} flagged uploads and "
            f"{files} quarantined files older than {cutoff:%Y-%m-%d %H:%M} UTC. "
            "Run again with --yes to delete them."
        )


def _old_rows(cutoff):
    return AuditLog.objects.filter(created_at__lt=cutoff).order_by("id")


def _files_only_old(cutoff):
    """Files that only rows older than `cutoff` point to: they go with those rows."""
    return (
        QuarantinedFile.objects.filter(uploads__audit__created_at__lt=cutoff)
        .exclude(uploads__audit__created_at__gte=cutoff)
        .distinct()
    )


def _orphan_files(cutoff):
    """Files no flagged upload points to (a write that failed halfway), old enough to go."""
    return QuarantinedFile.objects.filter(uploads__isnull=True, created_at__lt=cutoff)


def _purge_batch(ids: list[int]) -> tuple[int, int]:
    """Delete these audit rows (their flagged uploads cascade), then the files left unused.

    Rows go first, in one transaction; a file whose bytes cannot be deleted keeps
    its row and is retried by the next run as an orphan.
    """
    file_ids = list(
        FlaggedUpload.objects.filter(audit_id__in=ids, file__isnull=False)
        .values_list("file_id", flat=True)
        .distinct()
    )
    with transaction.atomic():
        FlaggedUpload.objects.filter(audit_id__in=ids).delete()
        deleted_rows = (
            AuditLog.objects.filter(id__in=ids).delete()[1].get("inference_api.AuditLog", 0)
        )
    return deleted_rows, quarantined_files_delete(file_ids)
