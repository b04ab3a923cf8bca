"""docs/benchmarks.md from the results of one run, rendered from bench/report.md.tmpl.

This module only turns numbers into the strings the template places (and
decides each promise's verdict); every word and every table of the report
is in the template, rendered by Django's template engine.
"""

from pathlib import Path

from django.template import Context, Engine

from bench import decode, figures, latency, memory

TEMPLATE = Path(__file__).with_name("report.md.tmpl")
NAMES = {"this": "this checkout", "baseline": "baseline", "fastapi": "plain FastAPI"}
# Medians of the same code on this shared machine move by a few percent from
# run to run: "not slower than the baseline" allows this much.
NOISE = 1.05
# A load average above this at the start, or other processes taking more than
# this share of one core over the run: the report says the machine was busy
# and its verdicts are not to be trusted. (The load at the end is mostly the
# bench's own: its throughput measure keeps 4 clients going.)
BUSY_LOAD = 1.0
BUSY_OTHERS = 0.2


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("met" if ok else "not met")


def count(value: int) -> str:
    return f"{value:,}"


def others_share(results: dict) -> float:
    """Other processes' CPU over the run, as a share of one core (0 when not measured)."""
    cpu = results.get("cpu")
    return cpu["other_seconds"] / (results["minutes"] * 60) if cpu else 0.0


def other_cpu(results: dict) -> str:
    cpu = results.get("cpu")
    if not cpu:
        return "-"
    return (
        f"{cpu['other_seconds']:.1f} CPU-s ({others_share(results):.0%} of one core), "
        f"beside the bench's own {cpu['bench_seconds']:.0f} CPU-s"
    )


def latency_rows(results: dict) -> list[dict]:
    rows = []
    for label, row in results["latency"].items():
        servers = row["servers"]
        this, base, plain = servers["this"], servers.get("baseline"), servers["fastapi"]
        target = row["target_ratio"]
        rows.append(
            {
                "label": label,
                "bytes": count(row["bytes"]),
                "this": f"{ms(this['median_ms'])} ({this['p90_ms']:.1f})",
                "baseline": ms(base and base["median_ms"]),
                "fastapi": ms(plain["median_ms"]),
                "bare": ms(row["bare_warm_ms"]),
                "bare_cold": ms(row["bare_cold_ms"]),
                "ratio": ratio(this["ratio"]),
                "fastapi_ratio": ratio(plain["ratio"]),
                "target": ratio(target) if target else "",
                "target_verdict": verdict(this["ratio"] <= target) if target else "",
                "vs_baseline": ratio(base and this["median_ms"] / base["median_ms"]),
                "ahead": verdict(this["median_ms"] < plain["median_ms"]),
                "same_label": len({s["top_label"] for s in servers.values()}) == 1,
                "top_label": this["top_label"],
            }
        )
    return rows


def breakdown_rows(results: dict) -> list[dict]:
    rows = []
    for label, row in results["latency"].items():
        for key in ("this", "baseline"):
            found = row["servers"].get(key)
            if not found or found["decode_ms"] is None:
                continue
            rest = found["median_ms"] - found["decode_ms"] - found["forward_ms"]
            bare = row["bare_warm_ms"]
            rows.append(
                {
                    "label": label,
                    "server": NAMES[key],
                    "api": ms(found["median_ms"]),
                    "decode": ms(found["decode_ms"]),
                    "forward": ms(found["forward_ms"]),
                    "rest": ms(rest),
                    # The ratio if nothing but this decode and the warm forward pass cost time.
                    "floor": ratio((found["decode_ms"] + bare) / bare),
                }
            )
    return rows


def decode_rows(results: dict) -> list[dict]:
    return [
        {
            "label": row["label"],
            "bytes": count(row["bytes"]),
            "this": ms(row["decode_ms"]["this"]),
            "baseline": ms(row["decode_ms"].get("baseline")),
            "ratio": ratio(row["ratio"]),
            "target": ratio(row["target_ratio"]) if row["target_ratio"] else "",
            "verdict": verdict(row["ratio"] <= row["target_ratio"])
            if row["target_ratio"] and row["ratio"] is not None
            else "",
        }
        for row in results["decode"]
    ]


def throughput_rows(results: dict) -> list[dict]:
    rows = []
    for image in results["throughput"]["images"]:
        servers = image["servers"]
        rows.append(
            {
                "label": image["image"],
                "servers": [
                    {
                        "rps": f"{servers[key]['rps']:.1f}",
                        "median": ms(servers[key]["median_ms"]),
                        "errors": sum(n for s, n in servers[key]["statuses"].items() if s != 200),
                    }
                    for key in NAMES
                    if key in servers
                ],
                "bare": f"{image['bare_rps']:.1f}",
                "ahead": verdict(servers["this"]["rps"] > servers["fastapi"]["rps"]),
            }
        )
    return rows


def memory_rows(results: dict) -> list[dict]:
    start, end = results["memory"]["start"], results["memory"]["end"]
    return [
        {
            "server": NAMES[key],
            "processes": start[key]["processes"],
            "start": f"{start[key]['pss_mib']:,.0f} MiB",
            "end": f"{end[key]['pss_mib']:,.0f} MiB",
        }
        for key in start
    ]


def rejection_rows(results: dict) -> tuple[list[dict], list[dict]]:
    found = results["rejection"]
    requests = [
        {
            "label": row["label"],
            "bytes": count(row["bytes"]),
            "answer": f"{row['status']} {row['code']}",
            "median": ms(row["median_ms"]),
            "p90": ms(row["p90_ms"]),
        }
        for row in found["requests"]
    ]
    floods = [
        {
            "label": row["label"],
            "answer": "/".join(str(s) for s in row["statuses"]),
            "median": ms(row["median_ms"]),
            "sent": count(row["max_bytes_sent"]),
            "counted": count(row["max_bytes_received"]),
            "bound": count(row["bound_bytes"]),
            "audited": f"{row['audited']}/{row['requests']}",
            "verdict": verdict(row["met"]),
        }
        for row in found["floods"]
    ]
    return requests, floods


def promises(results: dict) -> list[dict]:
    """Each promise the bench guards, with this run's figure and verdict."""
    rows = results["latency"]
    two_mp_row = rows["2 MP JPEG"]
    two_mp = two_mp_row["servers"]["this"]["ratio"]
    bare, decoded = two_mp_row["bare_warm_ms"], two_mp_row["servers"]["this"]["decode_ms"]
    floor = decoded and (decoded + bare) / bare  # only the decode and the forward pass
    png = next(r for r in results["decode"] if r["label"] == "2 MP PNG")
    has_baseline = "baseline" in rows["2 MP JPEG"]["servers"]
    slower = [
        label
        for label, row in rows.items()
        if has_baseline
        and row["servers"]["this"]["median_ms"] > NOISE * row["servers"]["baseline"]["median_ms"]
    ]
    behind = [
        label
        for label, row in rows.items()
        if row["servers"]["this"]["median_ms"] >= row["servers"]["fastapi"]["median_ms"]
    ]
    fewer = [
        image["image"]
        for image in results["throughput"]["images"]
        if image["servers"]["this"]["rps"] <= image["servers"]["fastapi"]["rps"]
    ]
    grown = memory.growth(results["memory"]["start"])
    floods = results["rejection"]["floods"]
    target_2mp = latency.RATIO_TARGET["2 MP JPEG"]
    target_png = decode.RATIO_TARGET["2 MP PNG"]
    return [
        {
            "promise": f"2 MP JPEG within {target_2mp:.2f}x the warm bare forward pass",
            "figure": f"{ratio(two_mp)} (floor {ratio(floor)})",
            "verdict": verdict(two_mp <= target_2mp),
        },
        {
            "promise": f"2 MP PNG decode at most {target_png:.0%} of the baseline's",
            "figure": ratio(png["ratio"]),
            "verdict": verdict(png["ratio"] <= target_png) if png["ratio"] else "-",
        },
        {
            "promise": f"no image slower than the baseline (median, {NOISE - 1:.0%} noise allowed)",
            "figure": ", ".join(slower) or "none slower",
            "verdict": verdict(not slower) if has_baseline else "-",
        },
        {
            "promise": "ahead of the plain FastAPI service on every image",
            "figure": ", ".join(behind) or "ahead on all",
            "verdict": verdict(not behind),
        },
        {
            "promise": "more answers per second than the plain FastAPI service, every image",
            "figure": ", ".join(fewer) or "more on all",
            "verdict": verdict(not fewer),
        },
        {
            "promise": f"memory at start within {memory.GROWTH_TARGET - 1:.0%} of the baseline's",
            "figure": ratio(grown),
            "verdict": verdict(grown <= memory.GROWTH_TARGET) if grown else "-",
        },
        {
            "promise": "a PNG bomb refused no dearer than a tiny valid image",
            "figure": "",
            "verdict": verdict(results["rejection"]["bomb_within_tiny"]),
        },
        {
            "promise": "a body over the cap read no further than the cap and one chunk",
            "figure": "",
            "verdict": verdict(all(row["met"] for row in floods)),
        },
    ]


def context(results: dict, figure: str) -> dict:
    requests, floods = rejection_rows(results)
    checkout = results["checkout"]
    return {
        "r": results,
        "commit": checkout["commit"] + (" with uncommitted changes" if checkout["dirty"] else ""),
        "load_before": " / ".join(f"{v:.2f}" for v in results["load_before"]),
        "load_after": " / ".join(f"{v:.2f}" for v in results["load_after"]),
        "minutes": f"{results['minutes']:.1f}",
        "other_cpu": other_cpu(results),
        "busy": results["load_before"][0] > BUSY_LOAD or others_share(results) > BUSY_OTHERS,
        "promises": promises(results),
        "latency": latency_rows(results),
        "breakdown": breakdown_rows(results),
        "decode": decode_rows(results),
        "throughput": throughput_rows(results),
        "servers": [NAMES[key] for key in NAMES if key in results["memory"]["start"]],
        "memory": memory_rows(results),
        "requests": requests,
        "floods": floods,
        "figure": figure,
    }


def write(results: dict, docs: Path) -> Path:
    """Render the template into `docs`/benchmarks.md, with its figure beside it."""
    docs.mkdir(parents=True, exist_ok=True)
    figure = figures.latency(results, NAMES, docs / "bench_latency.png")
    engine = Engine(autoescape=False)
    text = engine.from_string(TEMPLATE.read_text()).render(
        Context(context(results, figure), autoescape=False)
    )
    path = docs / "benchmarks.md"
    path.write_text(text)
    return path
