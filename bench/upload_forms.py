"""What each way of sending an upload costs the server: CPU per answer, by form.

The same photo goes to one server as the typed multipart part of before, as
an untyped part (Python requests' default), under an alias type, and as the
raw body (typed, and application/octet-stream). Each form is sent in a batch
of sequential requests; the CPU its batch cost the gunicorn workers and their
decoder processes (from /proc) is divided by its answers. Batches go round
robin, several rounds, and the median per form is kept, so drift in the
machine's load falls on every form alike. The bar (issue 19): no accepted
form costs more than the typed multipart part.

    .venv/bin/python bench/upload_forms.py     # standalone: its own server, a Markdown table
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from inference_api.testing.http import multipart, post  # noqa: E402

BASELINE = "multipart, typed part (before)"
SIZES = {"0.3 MP JPEG": (640, 480), "2 MP JPEG": (1632, 1224)}


def forms(data: bytes) -> dict[str, tuple[bytes, dict]]:
    """Each form of the upload: (body, headers)."""
    return {
        BASELINE: (multipart(data, "image/jpeg", "photo.jpg"), {}),
        "multipart, untyped part": (multipart(data, None, "photo.jpg"), {}),
        "multipart, alias image/jpg": (multipart(data, "image/jpg", "photo.jpg"), {}),
        "raw body, image/jpeg": (data, {"Content-Type": "image/jpeg"}),
        "raw body, octet-stream": (data, {"Content-Type": "application/octet-stream"}),
    }


def server_cpu(master: int) -> float:
    """CPU seconds the workers, their finished children and their live decoders have used."""
    from inference_api.testing.servers import descendants, worker_pids

    workers = worker_pids(master)
    # The decoders' zygote and its decoders; the zygote's children's time is its reaped ones.
    decoders = [pid for worker in workers for pid in descendants(worker)]
    return sum(_with_children(pid) for pid in workers + decoders)


def _fields(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return []


def _own(pid: int) -> float:
    fields = _fields(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK") if fields else 0.0


def _with_children(pid: int) -> float:
    fields = _fields(pid)
    if not fields:
        return 0.0
    ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))
    return ticks / os.sysconf("SC_CLK_TCK")


def measure(url: str, master: int, batch: int, rounds: int) -> dict:
    """{image: {form: {"cpu_ms": median CPU per answer, "ok": answers with 200}}}."""
    from bench.common import median
    from inference_api.testing.images import photos

    found: dict = {}
    for label, size in SIZES.items():
        sent = forms(photos.jpeg(size))
        samples: dict[str, list[float]] = {name: [] for name in sent}
        ok = dict.fromkeys(sent, 0)
        for _ in range(rounds):
            for name, (body, headers) in sent.items():
                before = server_cpu(master)
                for _ in range(batch):
                    ok[name] += post(url, body, headers).status == 200
                samples[name].append(1000 * (server_cpu(master) - before) / batch)
        found[label] = {
            name: {"cpu_ms": median(values), "ok": ok[name], "sent": batch * rounds}
            for name, values in samples.items()
        }
    return found


SECTION = """## Every way an upload comes: CPU per answer

`bench/upload_forms.py`: the same photo as the typed multipart part every
client had to send before, as an untyped part (Python requests' default), under
an alias (`image/jpg`), and as the raw body (typed, and
`application/octet-stream`). CPU of the gunicorn workers and their decoders
per answer, median of round-robin batches (the kernel counts CPU in 10 ms
ticks: 0.5 ms resolution per answer). No accepted form costs more than the
typed part; the raw body skips the multipart parser.
"""


def section(found: dict) -> str:
    """The report's section: its prose and the table."""
    return "\n".join([SECTION, *table(found), ""])


def table(found: dict) -> list[str]:
    """The Markdown rows of `found`: CPU per answer, and against the typed multipart part."""
    labels = list(found)
    lines = [
        "| form | " + " | ".join(f"{label}: CPU ms / answer (x before)" for label in labels) + " |",
        "|---|" + "---|" * len(labels),
    ]
    for name in found[labels[0]]:
        cells = []
        for label in labels:
            row, base = found[label][name], found[label][BASELINE]["cpu_ms"]
            ratio = row["cpu_ms"] / base
            cells.append(f"{row['cpu_ms']:.1f} ({ratio:.2f}x), {row['ok']}/{row['sent']} ok")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    from bench import common

    common.ensure_model()
    load = common.load_average()
    with common.bench_server(workers=2) as server:
        found = measure(server.url, server.process.pid, batch=20, rounds=5)
    sys.stdout.write(f"load average before: {load:.2f}, after: {common.load_average():.2f}\n")
    sys.stdout.write(section(found))


if __name__ == "__main__":
    main()
