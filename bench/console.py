"""How long the reviewer's overview takes over a large audit trail.

    .venv/bin/python bench/console.py                 # 1,000,000 rows
    .venv/bin/python bench/console.py --rows 200000   # quicker
    .venv/bin/python bench/console.py --reuse         # measure again, same rows (PostgreSQL)

Fills a fresh database of its own with audit rows spread over the last 7
days (a tenth of them refusals, one in fifty flagged), then renders the
overview page as a superuser through Django's test client for each window,
several times, and prints the median time and the number of queries as a
Markdown table (docs/admin.md quotes it). PostgreSQL when it runs on
127.0.0.1 (database `bench_console`, dropped and made again), else SQLite in
a temporary file.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import _port_open  # noqa: E402

POSTGRES_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"
POSTGRES_BENCH = "postgres://postgres@127.0.0.1:5432/bench_console"
STATUSES = (200,) * 18 + (415, 422)  # 1 in 10 a refusal, 1 in 20 flagged-like


def fresh_database() -> str:
    """A DATABASE_URL to an empty database this script owns; described for the report."""
    if _port_open("127.0.0.1", 5432):
        import psycopg

        with psycopg.connect(
            POSTGRES_ADMIN.replace("postgres://", "postgresql://"), autocommit=True
        ) as c:
            c.execute("DROP DATABASE IF EXISTS bench_console")
            c.execute("CREATE DATABASE bench_console")
        return POSTGRES_BENCH
    path = Path(tempfile.mkdtemp()) / "console.sqlite3"
    return f"sqlite:///{path}"


def fill(rows: int) -> None:
    """`rows` audit rows over the last 7 days, and a flagged upload for every 50th."""
    from django.utils import timezone

    from inference_api.models import AuditLog, FlaggedUpload

    now = timezone.now()
    step = timedelta(days=7) / rows
    batch = 20_000
    for start in range(0, rows, batch):
        made = AuditLog.objects.bulk_create(
            AuditLog(
                created_at=now - step * n,
                request_id=f"b{n}",
                client_ip=f"198.{n % 7}.{n % 211}.{n % 251}",
                client_key=f"198.{n % 7}.{n % 211}.{n % 251}",
                path="/api/v1/analyze/",
                status=STATUSES[n % len(STATUSES)],
                outcome="ok" if n % len(STATUSES) < 18 else "invalid_image",
                latency_ms=30,
            )
            for n in range(start, min(start + batch, rows))
        )
        FlaggedUpload.objects.bulk_create(
            FlaggedUpload(audit=row, reason=row.outcome, not_stored="no_bytes")
            for row in made[::50]
        )


def measure(repeats: int) -> list[tuple[str, float, int]]:
    """(window, median ms, queries) for the overview page of each window."""
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="localhost")
    client.force_login(User.objects.create_superuser("bench", password=None))
    results = []
    for window in ("1h", "24h", "7d"):
        url = f"/admin/inference_api/auditlog/overview/?window={window}"
        client.get(url)  # warm: templates, the blocklist cache
        times = []
        for _ in range(repeats):
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                assert client.get(url).status_code == 200
                times.append((time.perf_counter() - started) * 1000)
        results.append((window, statistics.median(times), len(queries)))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--reuse", action="store_true", help="keep bench_console as it is")
    args = parser.parse_args()
    os.environ["DATABASE_URL"] = POSTGRES_BENCH if args.reuse else fresh_database()
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
    import django
    from django.core.management import call_command
    from django.db import connection

    django.setup()
    call_command("migrate", verbosity=0)
    if not args.reuse:
        started = time.perf_counter()
        fill(args.rows)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE inference_api_auditlog")
        print(f"filled in {time.perf_counter() - started:.0f} s")
    from django.contrib.auth.models import User

    from inference_api.models import AuditLog

    User.objects.filter(username="bench").delete()
    print(f"{connection.vendor}, {AuditLog.objects.count():,} audit rows\n")
    print("| window | overview page, median | queries |\n|---|---|---|")
    for window, ms, queries in measure(args.repeats):
        print(f"| {window} | {ms:.0f} ms | {queries} |")


if __name__ == "__main__":
    main()
