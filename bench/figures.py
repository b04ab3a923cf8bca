"""The one figure of docs/benchmarks.md: latency per image and server, and the bare forward pass."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def latency(results: dict, names: dict[str, str], path: Path) -> str:
    """Grouped bars of each server's median per image, the warm forward pass as a line each.

    `names` maps the servers' keys to their legend names. Returns the file's name.
    """
    rows = results["latency"]
    labels = list(rows)
    servers = [key for key in names if key in rows[labels[0]]["servers"]]
    width = 0.8 / len(servers)
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    for n, key in enumerate(servers):
        xs = [x - 0.4 + width * (n + 0.5) for x in range(len(labels))]
        values = [rows[label]["servers"][key]["median_ms"] for label in labels]
        ax.bar(xs, values, width, label=names[key])
    for x, label in enumerate(labels):
        bare = rows[label]["bare_warm_ms"]
        ax.hlines(bare, x - 0.4, x + 0.4, colors="black", linewidth=1.2)
    ax.plot([], [], color="black", label="bare forward pass, warm")
    ax.set_xticks(range(len(labels)), labels)
    ax.set_ylabel("median latency (ms)")
    ax.set_title("Each server against the bare forward pass (one run)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name
