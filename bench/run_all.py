"""Run every benchmark on this machine and write docs/benchmarks.md with its plots.

    make bench                      # or: .venv/bin/python bench/run_all.py
    .venv/bin/python bench/run_all.py --quick   # fewer repeats, a smoke run (~3 min)

Raw results go to bench/results/results.json (not committed); the report
and the PNG figures go to docs/. See bench/README.md for what each part
measures and why.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import (  # noqa: E402
    admission,
    alternatives,
    blocklist,
    budget,
    common,
    graph,
    latency,
    memory,
    rejection,
    report,
    request_path,
    upload_forms,
)
from inference_api.testing.images import photos  # noqa: E402

HEADLINE = [
    ("0.3 MP JPEG", "JPEG", (640, 480)),
    ("2 MP JPEG", "JPEG", (1632, 1224)),
    ("12 MP JPEG", "JPEG", (4000, 3000)),
    ("2 MP PNG", "PNG", (1632, 1224)),
]
JPEG_MEGAPIXELS = (0.3, 1, 2, 4, 8, 12, 16, 24)
PNG_MEGAPIXELS = (0.3, 1, 2, 4)
CONCURRENCY = (1, 2, 4, 8, 16)


def headline_cases() -> list[latency.Case]:
    made = []
    for label, fmt, size in HEADLINE:
        data = photos.jpeg(size) if fmt == "JPEG" else photos.png(size)
        made.append(latency.case(label, data, fmt, size))
    return made


def growth_cases() -> list[latency.Case]:
    made = []
    for fmt, sizes in (("JPEG", JPEG_MEGAPIXELS), ("PNG", PNG_MEGAPIXELS)):
        for megapixels in sizes:
            size = photos.size_for_megapixels(megapixels)
            data = photos.jpeg(size) if fmt == "JPEG" else photos.png(size)
            made.append(latency.case(f"{megapixels:g} MP {fmt}", data, fmt, size))
    return made


def tried(model, cases: list[latency.Case], repeats: int) -> dict:
    """The before/after measurements of bench/alternatives.py on the headline images."""
    from inference_api.imaging.limits import DecodeLimits
    from inference_api.imaging.prepare import decode_picture

    by_label = {c.label: c for c in cases}
    # Before the change, only JPEGs whose 1/8 scale is under 256 px were decoded twice.
    jpegs = {label: by_label[label].data for label in ("0.3 MP JPEG", "2 MP JPEG")}
    side = model.metadata.resize_size
    pictures = {}
    for label in ("0.3 MP JPEG", "2 MP JPEG", "2 MP PNG"):
        item = by_label[label]
        fmt = item.content_type.split("/")[1].upper()
        # The upright RGB picture the decoder resizes (decoded here, in this process).
        pictures[label] = decode_picture(item.data, fmt, DecodeLimits.from_settings(), side)
    return {
        "pipeline": alternatives.pipeline_times(model, jpegs, pictures, repeats),
        "gc": alternatives.full_gc_ms(),
    }


def run_api_benchmarks(quick: bool) -> dict:
    """Everything measured on one server: latency, stages, throughput, growth, refusals."""
    repeats = 8 if quick else 30
    results: dict = {}
    with common.bench_server(workers=2) as server:
        # This process's Django writes its audit-INSERT timings to the server's database.
        os.environ["DATABASE_URL"] = server.env["DATABASE_URL"]
        common.setup_django()
        results["services"] = server.services
        model = latency.load_model()
        cases = headline_cases()
        results["headline"] = latency.api_against_bare(server.url, model, cases, repeats)
        results["stages"] = {c.label: latency.stage_times(model, c, repeats) for c in cases}
        seconds = 3 if quick else 6
        for item, row in zip(cases, results["headline"], strict=True):
            row["api_rps"] = latency.api_throughput(server.url, item, 4, seconds)["rps"]
            row["bare_rps"] = latency.bare_throughput(
                model, latency.model_input(model, item), 2, seconds / 2
            )
        two_mp = cases[1]
        results["concurrency"] = [
            latency.api_throughput(server.url, two_mp, clients, seconds) for clients in CONCURRENCY
        ]
        results["growth"] = latency.latency_by_size(server.url, growth_cases(), 3 if quick else 8)
        results["tried"] = tried(model, cases, repeats)
        results["tried"]["malloc"] = alternatives.malloc_variants(cases[1].body, repeats * 2)
        results["upload_forms"] = upload_forms.measure(
            server.url, server.process.pid, batch=10 if quick else 20, rounds=3 if quick else 5
        )
        results["rejection"] = rejection.request_costs(server.url, repeats)
        results["floods"] = rejection.flood_costs(
            server.url, server.env["DATABASE_URL"], 3 if quick else 5
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (a smoke run)")
    parser.add_argument("--docs", type=Path, default=common.DOCS_DIR, help="where the report goes")
    args = parser.parse_args()
    started = time.monotonic()
    common.ensure_model()
    results: dict = {"load_before": common.load_average()}
    results.update(run_api_benchmarks(args.quick))
    results["request_path"] = request_path.measure(args.quick, request_path.baseline_checkout())
    results["admission"] = admission.measure(1000 if args.quick else admission.REPEATS)
    results["graph"] = graph.measure(60 if args.quick else 300)
    results["memory"] = memory.measure(8 if args.quick else 20)
    results["budget"] = budget.measure(args.quick)
    results["blocklist"] = blocklist.measure(args.quick)
    from inference_api.sandbox import close_pool

    close_pool()  # the decoders this process started for the stage timings
    results["machine"] = common.machine()
    results["load_after"] = common.load_average()
    results["minutes"] = (time.monotonic() - started) / 60
    results["quick"] = args.quick
    common.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (common.RESULTS_DIR / "results.json").write_text(json.dumps(results, indent=1, default=str))
    report.write(results, args.docs)
    sys.stdout.write(f"Wrote {args.docs / 'benchmarks.md'} in {results['minutes']:.1f} min\n")


if __name__ == "__main__":
    main()
