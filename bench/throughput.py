"""Throughput: answers per second to 4 clients sending one image back to back, per server.

Each server for the same number of seconds, in turns: the service's 2 sync
workers (this checkout and the baseline) and the plain FastAPI service's one
worker. Beside them, the ceiling: the bare forward pass alone in 2 forked
processes of this one (one per core, one torch thread each), on the same
image's input. Each image of the headline in turn; the clients run on the
same machine.
"""

import multiprocessing
import threading
import time

from bench.harness import Case, Options, median, percentile, rotated
from inference_api.testing import http as wire

CLIENTS = 4
BARE_PROCESSES = 2
# Each server's seconds are split in turns, so a change in the machine's
# load falls on every server alike.
ROUNDS = 4


def api_throughput(url: str, item: Case, seconds: float) -> dict:
    """Answers per second (200s only), their median and p90, with CLIENTS clients."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client() -> None:
        while time.monotonic() < deadline:
            reply = wire.post(url, item.body)
            with lock:
                statuses[reply.status] = statuses.get(reply.status, 0) + 1
                if reply.status == 200:
                    latencies.append(reply.elapsed_ms)

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {
        "seconds": time.monotonic() - started,
        "statuses": statuses,
        "latencies_ms": latencies,
    }


def _combined(turns: list[dict]) -> dict:
    latencies = [ms for turn in turns for ms in turn["latencies_ms"]]
    statuses: dict[int, int] = {}
    for turn in turns:
        for status, n in turn["statuses"].items():
            statuses[status] = statuses.get(status, 0) + n
    return {
        "rps": len(latencies) / sum(turn["seconds"] for turn in turns),
        "statuses": statuses,
        "median_ms": median(latencies),
        "p90_ms": percentile(latencies, 90),
    }


def _forward_loop(model, batch, seconds: float, counts) -> None:
    from bench.latency import forward

    done, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        forward(model, batch)
        done += 1
    counts.put(done)


def bare_throughput(model, batch, seconds: float) -> float:
    """Forward passes per second of BARE_PROCESSES forked copies of this process."""
    context = multiprocessing.get_context("fork")
    counts = context.Queue()
    workers = [
        context.Process(target=_forward_loop, args=(model, batch, seconds, counts))
        for _ in range(BARE_PROCESSES)
    ]
    for worker in workers:
        worker.start()
    total = sum(counts.get() for _ in workers)
    for worker in workers:
        worker.join()
    return total / seconds


def measure(urls: dict[str, str], model, items: list[Case], options: Options) -> dict:
    """Per image, each server for `options.seconds` in all, in turns (the order rotating)."""
    from bench.latency import model_input

    rounds = int(options.pick(2, ROUNDS))
    images = []
    for item in items:
        turns: dict[str, list[dict]] = {name: [] for name in urls}
        for round_ in range(rounds):
            for name in rotated(list(urls), round_):
                turns[name].append(api_throughput(urls[name], item, options.seconds / rounds))
        bare = bare_throughput(model, model_input(model, item), options.seconds / 2)
        servers = {name: _combined(found) for name, found in turns.items()}
        images.append({"image": item.label, "servers": servers, "bare_rps": bare})
    return {"clients": CLIENTS, "images": images}
