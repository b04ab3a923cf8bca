"""The PNG figures of docs/benchmarks.md (matplotlib, no display needed)."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

MIB = 1024


def draw_all(results: dict, stage_rows: dict, docs: Path) -> dict[str, str]:
    """Draw every figure into `docs`; their file names by key."""
    return {
        "latency": latency(results, docs / "bench_latency_vs_bare.png"),
        "stages": stages(stage_rows, docs / "bench_stages.png"),
        "rejection": rejection(results, docs / "bench_rejection.png"),
        "memory": memory(results, docs / "bench_memory.png"),
        "growth": growth(results, docs / "bench_latency_vs_megapixels.png"),
        "concurrency": concurrency(results, docs / "bench_throughput_vs_concurrency.png"),
        "budget": budget(results, docs / "bench_budget.png"),
    }


def _save(fig, path: Path) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name


def latency(results: dict, path: Path) -> str:
    rows = results["headline"]
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    xs = list(range(len(rows)))
    bars = (
        ("api_median", "API, end to end", -0.27),
        ("bare_cold_median", "bare forward, first after a request", 0.0),
        ("bare_median", "bare forward, warm", 0.27),
    )
    for key, label, shift in bars:
        ax.bar([x + shift for x in xs], [r[key] for r in rows], 0.27, label=label)
    for x, r in zip(xs, rows, strict=True):
        ax.annotate(f"{r['ratio']:.2f}x", (x - 0.27, r["api_median"]), ha="center", va="bottom")
    ax.set_xticks(xs, [r["label"] for r in rows])
    ax.set_ylabel("median latency (ms)")
    ax.set_title("API against the bare TorchScript forward pass (same run)")
    ax.legend(fontsize=8)
    return _save(fig, path)


def stages(table: dict[str, dict[str, float]], path: Path) -> str:
    fig, ax = plt.subplots(figsize=(10, 3.8))
    colours = plt.get_cmap("tab10").colors
    for y, parts in enumerate(table.values()):
        left = 0.0
        # What is written once the answer is sent is not in the client's time.
        shown = {name: v for name, v in parts.items() if "after the answer" not in name}
        for i, (name, value) in enumerate(shown.items()):
            ax.barh(y, value, left=left, color=colours[i % 10], label=name if y == 0 else None)
            left += value
    ax.set_yticks(range(len(table)), list(table))
    ax.invert_yaxis()
    ax.set_xlabel("milliseconds (medians)")
    ax.set_title("Where one request's time goes")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return _save(fig, path)


def rejection(results: dict, path: Path) -> str:
    rows = results["rejection"] + results["floods"]
    fig, ax = plt.subplots(figsize=(8, 3.4))
    ax.barh(range(len(rows)), [r["median_ms"] for r in rows], color="tab:red")
    ax.set_yticks(range(len(rows)), [r["label"] for r in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("median time to the answer (ms)")
    ax.set_title("Cost of refusing, against a tiny valid image")
    return _save(fig, path)


def memory(results: dict, path: Path) -> str:
    samples = results["memory"]["samples"]
    fig, ax = plt.subplots(figsize=(8.5, 3.8))
    decoders = results["memory"].get("decoder_samples", [])
    for pid in sorted({s[2] for s in samples}):
        points = [(t, rss / MIB) for t, _, p, rss in samples if p == pid and rss]
        line = ax.plot([p[0] for p in points], [p[1] for p in points], lw=1, label=f"worker {pid}")
        points = [(t, rss / MIB) for t, _, p, rss in decoders if p == pid]
        ax.plot([p[0] for p in points], [p[1] for p in points], lw=1, ls="--",
                color=line[0].get_color(), label="its decoders")  # fmt: skip
    _shade_phases(ax, samples)
    ax.set_xlabel("seconds")
    ax.set_ylabel("RSS (MiB)")
    ax.set_title("Worker and decoder memory under the worst-case uploads")
    ax.legend(fontsize=7, loc="upper right")
    return _save(fig, path)


def _shade_phases(ax, samples) -> None:
    spans: dict[str, list[float]] = {}
    for t, phase, _, _ in samples:
        span = spans.setdefault(phase, [t, t])
        span[1] = t
    for i, (phase, (start, end)) in enumerate(spans.items()):
        if i % 2:
            ax.axvspan(start, end, color="grey", alpha=0.12)
        ax.text((start + end) / 2, 0.02, phase, transform=ax.get_xaxis_transform(), ha="center",
                fontsize=6)  # fmt: skip


def growth(results: dict, path: Path) -> str:
    fig, ax = plt.subplots(figsize=(7, 3.6))
    for fmt in ("image/jpeg", "image/png"):
        rows = [r for r in results["growth"] if r["format"] == fmt]
        megapixels = [r["megapixels"] for r in rows]
        ax.plot(megapixels, [r["api_median"] for r in rows], "o-", label=f"API, {fmt}")
    bare = min(r["bare_median"] for r in results["headline"])
    ax.axhline(bare, color="grey", ls="--", label="bare forward pass (warm)")
    ax.set_xlabel("megapixels")
    ax.set_ylabel("median latency (ms)")
    ax.set_title("Latency against image size")
    ax.legend()
    return _save(fig, path)


def concurrency(results: dict, path: Path) -> str:
    rows = results["concurrency"]
    fig, ax = plt.subplots(figsize=(7, 3.6))
    clients = [r["clients"] for r in rows]
    ax.plot(clients, [r["rps"] for r in rows], "o-", color="tab:blue")
    ax.set_xscale("log", base=2)
    ax.set_xticks(clients, [str(c) for c in clients])
    ax.set_xlabel("concurrent clients (2 MP JPEG)")
    ax.set_ylabel("requests/s", color="tab:blue")
    twin = ax.twinx()
    twin.plot(clients, [r["median_ms"] for r in rows], "s--", color="tab:orange")
    twin.set_ylabel("median latency (ms)", color="tab:orange")
    ax.set_title("Throughput against concurrency (2 workers)")
    return _save(fig, path)


def budget(results: dict, path: Path) -> str:
    """CPU and memory of each of the worst allowed uploads, against the budget.

    A decode stopped at the budget is drawn (in red) with what it took when
    given room to finish.
    """
    found = results["budget"]["worst"]
    rows = [_worst_cost(r) for r in found["worst"]]
    rows = [r for r in rows if r["cpu_ms"] is not None]
    limits = found["limits"]
    fig, (cpu, memory) = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    ys = range(len(rows))
    colours = ["tab:red" if r["stopped"] else "tab:blue" for r in rows]
    cpu.barh(ys, [r["cpu_ms"] for r in rows], color=colours)
    cpu.axvline(limits["cpu_seconds"] * 1000, color="black", ls="--", label="DECODE_CPU_SECONDS")
    cpu.set_yticks(ys, [r["name"] for r in rows], fontsize=7)
    cpu.invert_yaxis()
    cpu.set_xlabel("decoder CPU (ms; red: stopped, shown with room)")
    cpu.legend(fontsize=7)
    memory.barh(ys, [(r["above_idle_kb"] or 0) / MIB for r in rows], color=colours)
    memory.axvline(limits["memory_mib"], color="black", ls="--", label="DECODE_MEMORY_BYTES")
    memory.set_xlabel("decoder peak RSS above its idle (MiB)")
    memory.legend(fontsize=7)
    fig.suptitle("The worst allowed uploads, each in a fresh decoder process")
    return _save(fig, path)


def _worst_cost(row: dict) -> dict:
    unbounded = row.get("unbounded") or {}
    stopped = row["cpu_ms"] is None and unbounded.get("cpu_ms") is not None
    source = unbounded if stopped else row
    return {"name": row["name"], "stopped": stopped, "cpu_ms": source.get("cpu_ms"),
            "above_idle_kb": source.get("above_idle_kb")}  # fmt: skip
