"""docs/benchmarks.md, from the results of one run of run_all.py (figures: bench/figures.py)."""

import datetime
from pathlib import Path

from bench import admission, blocklist, figures, prose, upload_forms

TARGETS = {"2 MP JPEG": 1.3, "12 MP JPEG": 1.6}
# The served graph's forward pass against the plain traced graph's (issue 13).
GRAPH_TARGET = 0.85
MIB = 1024


def write(results: dict, docs: Path) -> None:
    docs.mkdir(parents=True, exist_ok=True)
    table = stage_rows(results)
    drawn = figures.draw_all(results, table, docs)
    sections = [
        _header(results),
        _headline(results, drawn),
        _stages(results, table, drawn),
        _request_path(results),
        upload_forms.section(results["upload_forms"]),
        admission.section(results["admission"]),
        _tried(results),
        _graph(results),
        _rejection(results, drawn),
        blocklist.section(results["blocklist"]) if "blocklist" in results else "",
        _memory(results, drawn),
        _budget(results, drawn),
        _growth(results, drawn),
        prose.FAULTS,
        prose.WORKER_BOUNDS,
        prose.COST_MODEL,
    ]
    (docs / "benchmarks.md").write_text("\n".join(sections))


def stage_rows(results: dict) -> dict[str, dict[str, float]]:
    """Per headline image: each step's median, the server's forward pass, and the rest."""
    table = {}
    for row in results["headline"]:
        measured = results["stages"][row["label"]]
        parts = {
            "multipart parse": measured["multipart parse"],
            "parent checks + hash": measured["parent checks + hash"],
            "decode in the decoder process": measured["decode in the decoder process"],
            "to tensor": measured["to tensor"],
            "forward (in the server)": row["server_forward_median"],
        }
        parts["HTTP, gunicorn, Django (rest)"] = max(0.0, row["api_median"] - sum(parts.values()))
        # Written once the answer is sent: not in the client's time.
        parts["audit INSERT (after the answer)"] = measured["audit INSERT"]
        table[row["label"]] = parts
    return table


def _checks_and_decode(parts: dict[str, float]) -> float:
    return parts["parent checks + hash"] + parts["decode in the decoder process"]


# --- helpers ------------------------------------------------------------------------------


def _row(*cells: object) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _head(*names: str) -> list[str]:
    return [_row(*names), _row(*(["---"] * len(names)))]


def _ms(value: float) -> str:
    return f"{value:.1f} ms"


def _x(value: float) -> str:
    return f"{value:.2f}x"


# --- sections -----------------------------------------------------------------------------


def _header(results: dict) -> str:
    m = results["machine"]
    quick = prose.QUICK if results["quick"] else ""
    return prose.HEADER.format(
        date=datetime.date.today().isoformat(),
        minutes=results["minutes"],
        quick=quick,
        services=results["services"],
        load_before=results["load_before"],
        load_after=results["load_after"],
        **m,
    )


def _headline(results: dict, drawn: dict) -> str:
    lines = [prose.HEADLINE, ""]
    lines += _head(
        "image", "bytes", "API median (p90)", "bare forward, warm", "**ratio**",
        "bare forward, first after a request", "ratio to it", "target",
        "API req/s (4 clients)", "bare forward/s (2 processes)", "top label",
    )  # fmt: skip
    for r in results["headline"]:
        target = TARGETS.get(r["label"])
        verdict = (
            "" if target is None else f"{target}x: {'met' if r['ratio'] <= target else 'not met'}"
        )
        p90 = sorted(r["api_ms"])[int(0.9 * (len(r["api_ms"]) - 1))]
        lines.append(
            _row(
                r["label"],
                f"{r['bytes']:,}",
                f"{_ms(r['api_median'])} ({p90:.1f})",
                _ms(r["bare_median"]),
                f"**{_x(r['ratio'])}**",
                _ms(r["bare_cold_median"]),
                _x(r["ratio_cold"]),
                verdict,
                f"{r['api_rps']:.1f}",
                f"{r['bare_rps']:.1f}",
                r["top_label"],
            )  # fmt: skip
        )
    lines += ["", f"![API against bare forward]({drawn['latency']})", ""]
    return "\n".join(lines)


def _stages(results: dict, table: dict, drawn: dict) -> str:
    names = list(next(iter(table.values())))
    lines = [prose.STAGES, ""]
    lines += _head("image", *names, "floor: (warm forward + checks + decode) / warm forward")
    by_label = {r["label"]: r for r in results["headline"]}
    floors = {}
    for label, parts in table.items():
        bare = by_label[label]["bare_median"]
        floors[label] = (bare + _checks_and_decode(parts)) / bare
        lines.append(_row(label, *(f"{parts[n]:.1f}" for n in names), _x(floors[label])))
    lines += ["", prose.SANDBOX_STAGE, ""]
    lines += _head("image", "decode in the decoder process", "the same `prepare` here",
                   "difference: the sandbox")  # fmt: skip
    for label in table:
        measured = results["stages"][label]
        lines.append(
            _row(
                label,
                _ms(measured["decode in the decoder process"]),
                _ms(measured["prepare in this process"]),
                _ms(measured["sandbox overhead"]),
            )
        )
    why = prose.WHY_NOT_MET.format(floor_2=floors["2 MP JPEG"], floor_12=floors["12 MP JPEG"])
    lines += ["", f"![Stages]({drawn['stages']})", "", why, ""]
    return "\n".join(lines)


def _tried(results: dict) -> str:
    lines = [prose.TRIED_INTRO, ""]
    lines += _head("step", "before", "before", "now", "saved")
    for r in results["tried"]["pipeline"]:
        saved = r["before_ms"] - r["after_ms"]
        lines.append(
            _row(r["step"], r["before"], _ms(r["before_ms"]), _ms(r["after_ms"]), _ms(saved))
        )
    gc = results["tried"]["gc"]
    lines += ["", prose.TRIED_DONE, "", prose.MALLOC, ""]
    lines += _head(
        "one worker, 2 MP JPEG", "API median", "forward in the server", "idle RSS",
        "RSS after 3 worst-case images", "peak RSS",
    )  # fmt: skip
    for name, r in results["tried"]["malloc"].items():
        lines.append(
            _row(
                f"glibc malloc {name}",
                _ms(r["api_ms"]),
                _ms(r["forward_ms"]),
                f"{r['idle_mib']:.0f} MiB",
                f"{r['after_worst_mib']:.0f} MiB",
                f"{r['peak_mib']:.0f} MiB",
            )  # fmt: skip
        )
    lines += [
        "",
        prose.MALLOC_ADVICE,
        "",
        prose.GC.format(
            objects=gc["tracked_objects"], full=gc["full_gc_ms"], frozen=gc["frozen_gc_ms"]
        ),
        "",
        prose.OTHER_IDEAS,
        "",
    ]
    return "\n".join(lines)


def _graph(results: dict) -> str:
    from bench.graph import WAYS

    found = results["graph"]
    plain = found["median_ms"]["plain"]
    lines = [prose.GRAPH, ""]
    lines += _head("forward pass, batch of 1", "median", "against the plain graph")
    for name, label in WAYS.items():
        median = found["median_ms"][name]
        lines.append(_row(label, _ms(median), _x(median / plain)))
    verdict = "met" if found["ratio"] <= GRAPH_TARGET else "not met"
    lines += [
        "",
        prose.GRAPH_RESULT.format(
            ratio=found["ratio"],
            paired=found["ratio_paired"],
            target=GRAPH_TARGET,
            verdict=verdict,
            rounds=found["rounds"],
            threads=found["threads"],
            same="the same" if found["same_top_label"] else "**not** the same",
        ),
        "",
    ]
    return "\n".join(lines)


def _request_path(results: dict) -> str:
    """Issue 13's targets in one table (target, before, after), then the stage table."""
    found = results["request_path"]
    after, before = found["beyond"]["after"], found["beyond"].get("before", {})
    alone = found["alone_rps"]
    lines = [prose.REQUEST_PATH, ""]
    lines += _head("figure", "target", "before", "after", "")
    graph = results["graph"]["ratio"]
    lines.append(
        _row("forward pass: served graph / plain graph", f"at most {GRAPH_TARGET:.2f}x",
             "1.00x (the plain graph)", _x(graph), _verdict(graph <= GRAPH_TARGET))
    )  # fmt: skip
    for label in after:
        target = found["targets_ms"].get(label)
        now = after[label]["beyond_ms"]
        then = before.get(label, {}).get("beyond_ms")
        lines.append(
            _row(
                f"{label}: beyond the decode and the forward pass"
                f" (API {_ms(after[label]['api_ms'])})",
                f"at most {target:.0f} ms" if target else "",
                _ms(then) if then is not None else "",
                _ms(now),
                _verdict(now <= target) if target else "",
            )
        )
    rates = {name: row["rps"] for name, row in found["throughput"].items()}
    share = {name: rps / alone for name, rps in rates.items()}
    target = found["throughput_target"]
    was = rates.get("before")
    lines.append(
        _row(
            f"2 MP JPEG, 4 clients: answers/s against (decode + forward)/s alone ({alone:.1f}/s)",
            f"at least {target:.0%}",
            f"{share['before']:.0%} ({was:.1f}/s)" if was is not None else "",
            f"{share['after']:.0%} ({rates['after']:.1f}/s)",
            _verdict(share["after"] >= target),
        )
    )
    lines += ["", prose.REQUEST_STAGES, ""]
    labels = list(found["stages"])
    lines += _head("step (median ms, run here)", *labels)
    for step in found["stages"][labels[0]]:
        lines.append(_row(step, *(f"{found['stages'][label][step]:.2f}" for label in labels)))
    rest = []
    for label in labels:
        steps = found["stages"][label]
        inside = sum(v for k, v in steps.items() if not k.startswith(("after", "SHA-256")))
        rest.append(f"{after[label]['beyond_ms'] - inside:.2f}")
    lines.append(_row("the rest: connection, gunicorn, Django's middleware, DRF", *rest))
    floor = found["floor_ms"]["after"]
    lines += ["", prose.REQUEST_CPU.format(alone=alone, per_item=2000 / alone), ""]
    lines += _head("CPU per answer (ms), 2 MP JPEG, 4 clients", *found["throughput"])
    groups = list(found["throughput"]["after"]["cpu_ms_per_answer"])
    for group in groups:
        lines.append(
            _row(
                group,
                *(f"{row['cpu_ms_per_answer'][group]:.1f}" for row in found["throughput"].values()),
            )
        )
    lines.append(
        _row(
            "cores idle",
            *(f"{row['idle_ms_per_answer']:.1f}" for row in found["throughput"].values()),
        )
    )
    jpeg, png = found["stages"]["2 MP JPEG"], found["stages"]["2 MP PNG"]
    lines += [
        "",
        prose.REQUEST_PATH_NOTES.format(
            load=found["load_before"],
            floor=floor,
            jpeg_trip=jpeg["decoder process round trip"],
            png_trip=png["decoder process round trip"],
            jpeg_rest=float(rest[labels.index("2 MP JPEG")]) if "2 MP JPEG" in labels else 0.0,
            png_rest=float(rest[labels.index("2 MP PNG")]) if "2 MP PNG" in labels else 0.0,
            worker_cpu=found["throughput"]["after"]["cpu_ms_per_answer"][groups[0]],
            forward=results["graph"]["median_ms"]["served"],
            idle=found["throughput"]["after"]["idle_ms_per_answer"],
            left=2000 / (alone * found["throughput_target"]) - 2000 / alone,
        ),
        "",
    ]
    return "\n".join(lines)


def _verdict(met: bool) -> str:
    return "met" if met else "**not met**"


def _rejection(results: dict, drawn: dict) -> str:
    lines = ["## The cost of refusing", ""]
    lines += _head("request", "bytes", "answer", "median", "p90")
    for r in results["rejection"]:
        answer = f"{'/'.join(map(str, r['statuses']))} {r['code']}"
        lines.append(
            _row(r["label"], f"{r['bytes']:,}", answer, _ms(r["median_ms"]), _ms(r["p90_ms"]))
        )
    lines += ["", prose.FLOODS, ""]
    lines += _head(
        "request", "answer", "median", "body bytes sent (max)", "bytes the server counted (max)",
        "audited",
    )  # fmt: skip
    for r in results["floods"]:
        lines.append(
            _row(
                r["label"],
                "/".join(map(str, r["statuses"])),
                _ms(r["median_ms"]),
                f"{r['max_bytes_sent']:,}",
                f"{r['max_bytes_received']:,}",
                f"{r['audited']}/{r['requests']}",
            )  # fmt: skip
        )
    lines += ["", f"![Refusals]({drawn['rejection']})", "", prose.REFUSALS, ""]
    return "\n".join(lines)


def _memory(results: dict, drawn: dict) -> str:
    mem = results["memory"]
    peaks = mem["peaks_kb"]
    files = ", ".join(f"{mode} {size:,} bytes" for mode, size in mem["files"].items())
    lines = [prose.MEMORY.format(files=files), ""]
    lines += _head("phase", "lowest worker RSS", "highest worker RSS", "answers")
    for phase, p in peaks.items():
        answers = mem["phases"].get(phase, {})
        shown = ", ".join(f"{k}: {v}" for k, v in sorted(answers.items(), key=str)) or "-"
        lines.append(
            _row(phase, f"{p['min_kb'] / MIB:.0f} MiB", f"{p['max_kb'] / MIB:.0f} MiB", shown)
        )
    idle = peaks["idle"]["max_kb"] / MIB
    top = max(p["max_kb"] for p in peaks.values()) / MIB
    hwm = max(mem["hwm_kb"].values(), default=0) / MIB
    after = peaks.get("idle after", {}).get("max_kb", 0) / MIB
    trough = peaks["worst-case images + 100 MB bodies"]["min_kb"] / MIB
    decoder_top = max((p["max_kb"] for p in mem["decoder_peaks_kb"].values()), default=0) / MIB
    decoder_hwm = max(mem["decoder_hwm_kb"].values(), default=0) / MIB
    lines += [
        "",
        prose.MEMORY_BOUND.format(
            idle=idle, top=top, hwm=hwm, after=after, decoders=decoder_top, decoder_hwm=decoder_hwm
        ),
        "",
        (prose.FLAT if trough <= idle * 1.3 else prose.NOT_FLAT).format(
            trough=trough, idle=idle, after=after
        ),
        "",
        f"![Memory]({drawn['memory']})",
        "",
        prose.MEMORY_WHY,
        "",
    ]
    return "\n".join(lines)


def _growth(results: dict, drawn: dict) -> str:
    lines = ["## How cost grows", ""]
    lines += _head("image", "bytes", "API median", "of it in the view (timing_ms.total)")
    for r in results["growth"]:
        lines.append(
            _row(r["label"], f"{r['bytes']:,}", _ms(r["api_median"]), _ms(r["view_median"]))
        )
    lines += ["", f"![Latency against megapixels]({drawn['growth']})", "", prose.GROWTH, ""]
    lines += _head("clients (2 MP JPEG)", "requests/s", "median", "p90", "answers")
    for r in results["concurrency"]:
        answers = ", ".join(f"{k}: {v}" for k, v in sorted(r["statuses"].items()))
        lines.append(
            _row(r["clients"], f"{r['rps']:.1f}", _ms(r["median_ms"]), _ms(r["p90_ms"]), answers)
        )
    lines += ["", f"![Throughput against concurrency]({drawn['concurrency']})", "", prose.SCALING]
    return "\n".join(lines) + "\n"


# --- the decode budget ------------------------------------------------------------------------

WAYS = {
    "itimer": "in process: ITIMER_PROF, a Python handler raises",
    "thread": "worker thread with a deadline",
    "decoder": "decoder process (DecoderPool, as served)",
}


def _budget(results: dict, drawn: dict) -> str:
    found = results["budget"]
    sections = [
        prose.BUDGET_INTRO,
        "",
        _enforcement(found["enforcement"]),
        _worst(found["worst"], drawn),
        _attack(found["attack"]),
    ]
    return "\n".join(sections)


def _enforcement(found: dict) -> str:
    lines = [prose.ENFORCEMENT.format(budget=found["budget_ms"]), ""]
    lines += _head(
        "decode", "way", "stopped", "the caller could answer after", "the decode ended after",
        "CPU it took",
    )  # fmt: skip
    for item in found["inputs"]:
        label = (
            f"{item['label']} ({item['bytes']:,} bytes; unbounded: {item['unbounded_ms']:.0f} ms)"
        )
        for name, way in item["ways"].items():
            lines.append(
                _row(
                    label,
                    WAYS[name],
                    f"{way['stopped']}/{way['runs']}",
                    _ms(way["answer_ms"]),
                    _ms(way["ended_ms"]),
                    _ms(way["cpu_ms"]),
                )
            )
            label = ""
    overhead = found["overhead"]
    lines += ["", prose.OVERHEAD.format(bytes=overhead["bytes"], repeats=overhead["repeats"]), ""]
    lines += _head("way", "2 MP JPEG, median", "added to the plain decode (paired median)")
    for name, median in overhead["median_ms"].items():
        added = overhead["overhead_ms"].get(name)
        lines.append(_row(WAYS.get(name, name), _ms(median), "-" if added is None else _ms(added)))
    decoder = overhead["overhead_ms"]["decoder"]
    verdict = "met" if decoder <= prose.OVERHEAD_TARGET_MS else "not met"
    lines += ["", prose.WHY_SUBPROCESS.format(decoder=decoder, verdict=verdict), ""]
    return "\n".join(lines)


def _mib(kb: int | None) -> str:
    return "-" if kb is None else f"{kb / MIB:.0f} MiB"


def _worst(found: dict, drawn: dict) -> str:
    limits = found["limits"]
    served = {r["name"]: r for r in found["served"]["rows"]}
    lines = [prose.WORST.format(**limits), ""]
    lines += _head(
        "upload", "bytes", "verdict", "decoder CPU", "decoder peak above its idle",
        "wall clock (fresh decoder)", "through the server", "worker VmHWM so far",
        "its decoders' VmHWM",
    )  # fmt: skip
    for r in found["worst"]:
        cpu = _worst_cpu(r)
        via = served.get(r["name"], {})
        answer = f"{via.get('status', '-')} {via.get('code', '')}, {via.get('ms', 0):.0f} ms"
        lines.append(
            _row(
                f"`{r['name']}`",
                f"{r['bytes']:,}",
                r["verdict"],
                cpu,
                _mib(r["above_idle_kb"]),
                _ms(r["wall_ms"]),
                answer,
                _mib(via.get("worker_hwm_kb")),
                _mib(via.get("decoders_hwm_kb")),
            )
        )
    worker = found["served"]
    rows = found["served"]["rows"]
    lines += [
        "",
        prose.WORST_SUMMARY.format(
            idle=worker["idle_kb"] / MIB,
            worker_peak=max((r["worker_hwm_kb"] for r in rows), default=0) / MIB,
            after=worker["after_kb"] / MIB,
            decoder_peak=max((r["decoders_hwm_kb"] for r in rows), default=0) / MIB,
            above=max((r["above_idle_kb"] or 0 for r in found["worst"]), default=0) / MIB,
            cpu=max((r["cpu_ms"] or 0 for r in found["worst"]), default=0),
            **limits,
        ),
        "",
        f"![The worst allowed uploads]({drawn['budget']})",
        "",
        prose.REFUSED_CASES,
        "",
    ]
    lines += _head("upload", "bytes", "answer", "time to the answer (fresh decoder)")
    for r in found["refused"]:
        lines.append(_row(f"`{r['name']}`", f"{r['bytes']:,}", r["verdict"], _ms(r["wall_ms"])))
    lines.append("")
    return "\n".join(lines)


def _worst_cpu(r: dict) -> str:
    """The decoder's CPU, or how far over the budget a stopped decode was."""
    if r["cpu_ms"] is not None:
        return _ms(r["cpu_ms"])
    if r["verdict"] != "too_costly":
        return "-"
    unbounded = r.get("unbounded", {})
    if unbounded.get("cpu_ms") is None:
        return "stopped at the budget"
    above = _mib(unbounded.get("above_idle_kb"))
    return f"stopped at the budget (with room: {unbounded['cpu_ms']:.0f} ms, {above})"


def _attack(found: dict) -> str:
    lines = [prose.ATTACK.format(seconds=found["seconds"], services=found["services"]), ""]
    lines += _head("legitimate client (2 MP JPEG)", "requests/s", "median", "p95", "max", "answers")
    for label, key in (("alone", "calm"), ("while two clients attack", "attacked")):
        r = found[key]
        answers = ", ".join(f"{k}: {v}" for k, v in sorted(r["statuses"].items()))
        lines.append(
            _row(
                label,
                f"{r['rps']:.1f}",
                _ms(r["median_ms"]),
                _ms(r["p95_ms"]),
                _ms(r["max_ms"]),
                answers,
            )  # fmt: skip
        )
    lines += [""]
    lines += _head("attacker", "upload", "sent", "answers", "in the audit trail")
    for r in found["attackers"]:
        answers = ", ".join(f"{k}: {v}" for k, v in sorted(r["answers"].items()))
        lines.append(
            _row(r["address"], f"`{r['case']}`", r["sent"], answers, f"{r['audited']}/{r['sent']}")
        )
    median_s = found["attacked"]["median_ms"] / 1000
    verdict = "met" if median_s < 1.0 else "not met"
    audited = all(r["audited"] == r["sent"] for r in found["attackers"])
    lines += [
        "",
        prose.ATTACK_RESULT.format(
            median=found["attacked"]["median_ms"],
            calm=found["calm"]["median_ms"],
            verdict=verdict,
            audited="every one" if audited else "**not every one**",
        ),
        "",
    ]
    return "\n".join(lines)
