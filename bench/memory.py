"""Resident memory of the workers under the heaviest uploads the API accepts.

Phases on a fresh server (its workers' peak counters start clean):
idle; clients sending only worst-case images (8000x8000 PNGs, in parallel);
the same while other clients send 100 MB bodies. A sampler reads every
worker's VmRSS from /proc every 50 ms, and the sum of its decoder
processes' (inference_api.sandbox: the decode happens there, the worker only
receives the model's 224x224 input); VmHWM (the kernel's own peak) is read
at the end. A sync worker handles one request at a time, so its bound is
its idle size plus one upload's bytes, and its decoders' is their idle size
plus one decode budget (DECODE_MEMORY_BYTES).
"""

import threading
import time
from dataclasses import dataclass, field

from bench import common
from inference_api.testing import http as wire
from inference_api.testing.images import photos
from inference_api.testing.servers import descendants, status_kb, worker_pids

SAMPLE_SECONDS = 0.05


@dataclass
class Sampler:
    """Samples the workers' RSS in the background, tagged with the current phase."""

    master_pid: int
    phase: str = "idle"
    samples: list[tuple[float, str, int, int]] = field(default_factory=list)
    # (seconds, phase, worker pid, summed RSS of that worker's decoder processes)
    decoder_samples: list[tuple[float, str, int, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        started = time.monotonic()
        while not self._stop.is_set():
            now = time.monotonic() - started
            for pid in worker_pids(self.master_pid):
                self.samples.append((now, self.phase, pid, status_kb(pid, "VmRSS")))
                decoders = sum(status_kb(d, "VmRSS") for d in descendants(pid))
                self.decoder_samples.append((now, self.phase, pid, decoders))
            time.sleep(SAMPLE_SECONDS)

    def stop(self) -> None:
        self._stop.set()


def _send_loop(url: str, bodies: list[bytes], deadline: float, statuses: dict, lock) -> None:
    index = 0
    while time.monotonic() < deadline:
        reply = wire.post(url, bodies[index % len(bodies)], timeout=120)
        index += 1
        with lock:
            statuses[reply.status] = statuses.get(reply.status, 0) + 1


def _flood_loop(url: str, deadline: float, statuses: dict, lock) -> None:
    declared = True
    while time.monotonic() < deadline:
        result = wire.flood(url, 100 * 1024 * 1024, declare_length=declared)
        declared = not declared
        with lock:
            key = f"flood {result.status}"
            statuses[key] = statuses.get(key, 0) + 1


def run_phase(
    url: str, bodies: list[bytes], image_clients: int, flood_clients: int, seconds: float
) -> dict:
    statuses: dict = {}
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    threads = [
        threading.Thread(target=_send_loop, args=(url, bodies, deadline, statuses, lock))
        for _ in range(image_clients)
    ] + [
        threading.Thread(target=_flood_loop, args=(url, deadline, statuses, lock))
        for _ in range(flood_clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def measure(seconds: float) -> dict:
    """Run the phases on a fresh server; RSS samples, per-phase peaks and answers."""
    worst = photos.worst_case_pngs()
    bodies = [
        wire.multipart(data, "image/png", f"worst-{mode}.png") for mode, data in worst.items()
    ]
    with common.bench_server(workers=2) as server:
        workers = worker_pids(server.process.pid)
        sampler = Sampler(server.process.pid)
        thread = threading.Thread(target=sampler.run, daemon=True)
        thread.start()
        time.sleep(2)
        phases = {}
        for name, image_clients, flood_clients in (
            ("worst-case images", 4, 0),
            ("worst-case images + 100 MB bodies", 3, 3),
            ("100 MB bodies only", 0, 6),
        ):
            sampler.phase = name
            phases[name] = run_phase(server.url, bodies, image_clients, flood_clients, seconds)
        sampler.phase = "idle after"
        time.sleep(2)
        sampler.stop()
        thread.join()
        hwm = {
            pid: status_kb(pid, "VmHWM") for pid in worker_pids(server.process.pid)
        }
        # Decoders are replaced after an over-budget job: these are the ones still running.
        decoder_hwm = {
            pid: status_kb(pid, "VmHWM")
            for worker in hwm
            for pid in descendants(worker)
        }
    return {
        "workers_at_start": workers,
        "files": {mode: len(data) for mode, data in worst.items()},
        "samples": sampler.samples,
        "phases": phases,
        "hwm_kb": hwm,
        "decoder_hwm_kb": decoder_hwm,
        "decoder_samples": sampler.decoder_samples,
        "peaks_kb": _peaks(sampler.samples),
        "decoder_peaks_kb": _peaks(sampler.decoder_samples),
    }


def _peaks(samples: list[tuple[float, str, int, int]]) -> dict[str, dict[str, int]]:
    """Per phase: the lowest and highest RSS any worker showed."""
    peaks: dict[str, dict[str, int]] = {}
    for _, phase, _, rss in samples:
        if not rss:
            continue
        entry = peaks.setdefault(phase, {"min_kb": rss, "max_kb": rss})
        entry["min_kb"] = min(entry["min_kb"], rss)
        entry["max_kb"] = max(entry["max_kb"], rss)
    return peaks
