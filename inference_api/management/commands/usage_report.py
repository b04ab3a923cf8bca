"""manage.py usage_report: requests, megapixels and refusals by API key and day, for billing."""

import csv
import json
from datetime import date

from django.core.management.base import BaseCommand, CommandError, CommandParser
from rest_framework_api_key.models import APIKey

from inference_api.models import UsageDay

ANONYMOUS = "anonymous"
COLUMNS = ("day", "key", "key_name", "requests", "answered", "refused", "megapixels", "outcomes")


class Command(BaseCommand):
    help = (
        "Print the usage persisted by the audit step (UsageDay) by API key and UTC day: "
        "requests, answered (200), refused, megapixels of classified uploads, and the "
        "count of each outcome. Anonymous clients are one line per day."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--format", choices=("csv", "json"), default="csv")
        parser.add_argument("--since", type=_day, help="first day, YYYY-MM-DD (default: all)")
        parser.add_argument("--until", type=_day, help="last day, YYYY-MM-DD (default: all)")
        parser.add_argument("--key", help="only this API key (its prefix), or 'anonymous'")

    def handle(self, *args, format: str, since, until, key: str | None, **options) -> None:
        rows = UsageDay.objects.all()
        if since:
            rows = rows.filter(day__gte=since)
        if until:
            rows = rows.filter(day__lte=until)
        if key:
            rows = rows.filter(api_key_id=_key_id(key))
        report = usage_lines(rows.order_by("day", "api_key_id", "outcome"))
        if format == "json":
            self.stdout.write(json.dumps(report, indent=1))
            return
        writer = csv.writer(self.stdout)
        writer.writerow(COLUMNS)
        for line in report:
            outcomes = ";".join(f"{name}={count}" for name, count in line["outcomes"].items())
            writer.writerow([*(line[column] for column in COLUMNS[:-1]), outcomes])


def usage_lines(rows) -> list[dict]:
    """One line per (day, key): totals and the count of each outcome."""
    names = dict(APIKey.objects.values_list("id", "name"))
    prefixes = dict(APIKey.objects.values_list("id", "prefix"))
    lines: dict[tuple, dict] = {}
    for row in rows:
        line = lines.setdefault(
            (row.day, row.api_key_id),
            {
                "day": row.day.isoformat(),
                "key": prefixes.get(row.api_key_id, row.api_key_id) or ANONYMOUS,
                "key_name": names.get(row.api_key_id, ""),
                "requests": 0,
                "answered": 0,
                "refused": 0,
                "megapixels": 0.0,
                "outcomes": {},
            },
        )
        line["requests"] += row.requests
        line["answered" if row.outcome == "ok" else "refused"] += row.requests
        line["megapixels"] = round(line["megapixels"] + row.megapixels, 3)
        line["outcomes"][row.outcome] = row.requests
    return list(lines.values())


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise CommandError(f"not a day (YYYY-MM-DD): {text!r}") from exc


def _key_id(key: str) -> str:
    if key == ANONYMOUS:
        return ""
    found = APIKey.objects.filter(prefix=key).values_list("id", flat=True).first()
    if found is None:
        raise CommandError(f"no API key with prefix {key!r}")
    return found
