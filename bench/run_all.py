"""Run every measure on one set of servers and write docs/benchmarks.md from its results.

    make bench                          # the full run (BASELINE=<git ref>, default b7a9b89)
    make bench QUICK=1                  # the smoke run: fewer rounds, shorter loads
    .venv/bin/python bench/run_all.py --quick --baseline HEAD~3 --docs /tmp/bench

Three servers run side by side for the whole run: this checkout, the
baseline commit (checked out into a temporary git worktree, removed after)
and the plain FastAPI service (bench/compare.py). Raw results go to
bench/results/results.json (not committed); the report, rendered from
bench/report.md.tmpl, and its figure go to docs/.
"""

import argparse
import json
import os
import sys
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import (  # noqa: E402
    compare,
    decode,
    harness,
    latency,
    memory,
    rejection,
    report,
    throughput,  # noqa: E402
)

DEFAULT_BASELINE = "b7a9b89"


def setup_django() -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
    import django

    django.setup()


def checkout_state() -> dict:
    """The commit measured, and whether tracked files differ from it (the report aside)."""
    report = (":!docs/benchmarks.md", ":!docs/bench_latency.png")
    dirty = bool(harness.git("status", "--porcelain", "--untracked-files=no", "--", ".", *report))
    return {"commit": harness.git("rev-parse", "--short", "HEAD"), "dirty": dirty}


def run(options: harness.Options, baseline: str | None) -> dict:
    """Start the servers, take every measure on them, and return the results."""
    from django.conf import settings

    env = harness.backing_services()
    results: dict = {"services": harness.services_description(env)}
    with ExitStack() as stack:
        servers = {"this": stack.enter_context(harness.service(harness.REPO, env))}
        if baseline:
            path, commit = stack.enter_context(harness.baseline_worktree(baseline))
            results["baseline"] = {"ref": baseline, "commit": commit[:10]}
            servers["baseline"] = stack.enter_context(harness.service(path, env))
        model_file = Path(settings.MODEL_STORAGE_DIR) / settings.MODEL_FILE_NAME
        servers["fastapi"] = stack.enter_context(
            compare.fastapi_server(model_file, harness.MALLOC_TUNED)
        )
        results["memory"] = {"start": _memory(servers)}
        urls = {name: server.url for name, server in servers.items()}
        model = latency.load_model()
        cases = harness.headline_cases()
        step = _stepper()
        results["latency"] = step("latency", latency.measure, urls, model, cases, options)
        ours = {name: urls[name] for name in ("this", "baseline") if name in urls}
        results["decode"] = step("decode", decode.measure, ours, options)
        results["throughput"] = step("throughput", throughput.measure, urls, model, cases, options)
        this = servers["this"]
        results["rejection"] = step(
            "rejection",
            rejection.measure,
            this.url,
            this.env["DATABASE_URL"],
            settings.MAX_UPLOAD_BYTES,
            options,
        )
        results["memory"]["end"] = _memory(servers)
    return results


def _memory(servers: dict) -> dict:
    return {name: memory.snapshot(server.process.pid) for name, server in servers.items()}


def _stepper():
    """Runs one measure, printing its name and how long it took (to stderr)."""

    def step(name: str, function, *args):
        started = time.monotonic()
        value = function(*args)
        sys.stderr.write(f"  {name}: {time.monotonic() - started:.0f} s\n")
        return value

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the smoke run: fewer rounds")
    parser.add_argument(
        "--baseline",
        default=DEFAULT_BASELINE,
        help="the git ref to compare with (default %(default)s); '' for none",
    )
    parser.add_argument("--docs", type=Path, default=harness.REPO / "docs", help="where to write")
    args = parser.parse_args()
    options = harness.Options(quick=args.quick)
    started = time.monotonic()
    results: dict = {
        "mode": "quick" if args.quick else "full",
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "checkout": checkout_state(),
        "load_before": harness.load_average(),
    }
    machine_before = harness.machine_cpu_seconds()
    setup_django()
    with harness.OwnCpu() as own:
        results.update(run(options, args.baseline or None))
    results["machine"] = harness.machine()
    results["load_after"] = harness.load_average()
    results["minutes"] = (time.monotonic() - started) / 60
    others = harness.machine_cpu_seconds() - machine_before - own.seconds()
    results["cpu"] = {"bench_seconds": own.seconds(), "other_seconds": max(0.0, others)}
    harness.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (harness.RESULTS_DIR / "results.json").write_text(json.dumps(results, indent=1, default=str))
    report.write(results, args.docs)
    sys.stdout.write(f"Wrote {args.docs / 'benchmarks.md'} in {results['minutes']:.1f} min\n")


if __name__ == "__main__":
    main()
