"""manage.py quarantine_stats: what the quarantine holds, by reason, against its budget."""

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db.models import Count, Q, Sum

from inference_api.models import FlaggedUpload, QuarantinedFile


class Command(BaseCommand):
    help = "Flagged uploads and quarantined bytes by reason, and the quarantine budget used."

    def handle(self, *args, **options) -> None:
        by_reason = (
            FlaggedUpload.objects.values("reason")
            .annotate(
                flagged=Count("id"),
                stored=Count("id", filter=Q(file__isnull=False)),
                bytes=Sum("size", default=0),
            )
            .order_by("reason")
        )
        self.stdout.write(f"{'reason':<24} {'flagged':>8} {'stored':>8} {'bytes':>14}")
        for row in by_reason:
            self.stdout.write(
                f"{row['reason']:<24} {row['flagged']:>8} {row['stored']:>8} {row['bytes']:>14}"
            )
        files = QuarantinedFile.objects.aggregate(count=Count("id"), bytes=Sum("size"))
        used = files["bytes"] or 0
        self.stdout.write(
            f"distinct files kept: {files['count']}, {used} bytes of "
            f"{settings.QUARANTINE_MAX_BYTES} ({100 * used / settings.QUARANTINE_MAX_BYTES:.1f}%)"
        )
        not_stored = (
            FlaggedUpload.objects.exclude(not_stored="")
            .values("not_stored")
            .annotate(n=Count("id"))
        )
        for row in not_stored.order_by("not_stored"):
            self.stdout.write(f"not kept ({row['not_stored']}): {row['n']}")
