"""The decode budget (issue 10): how it is enforced, what the worst allowed uploads cost,
and legitimate traffic while two clients send them at the rate limit.

- `enforcement`: one decode that spends its time inside C (a noisy
  progressive JPEG, 6000x4000) run through the decoder's own `prepare` with
  a 0.1 s CPU budget, enforced three ways: an in-process ITIMER_PROF timer
  whose Python handler raises, a worker thread with a deadline, and a
  decoder process (`DecoderPool`, as the server runs it). For each: when the
  caller could answer, when the decode really stopped, and the CPU it took.
  Then what each way adds to an ordinary 2 MP JPEG's decode.
- `worst_allowed`: every "accepted" case of inference_api/testing/images/costly.py
  (the largest legitimate picture of each mode) in a fresh decoder each:
  verdict, CPU, peak memory above the decoder's idle, wall clock; the refused
  cases' answers and times; then all of the accepted ones sent to a
  one-worker server, whose worker and decoders' peak RSS (VmHWM) is read.
- `under_attack`: a 2-worker server; a legitimate client sending 2 MP JPEGs
  back to back, alone, then while two attackers each send the most
  expensive allowed upload at the default rate limit (one every 2 s).
"""

import dataclasses
import signal
import threading
import time
from functools import lru_cache

from PIL import Image

from bench import common
from inference_api.testing import http as wire
from inference_api.testing.images import photos
from inference_api.testing.servers import (
    cpu_seconds,
    database_rows,
    descendants,
    reaped_cpu_seconds,
    status_kb,
    worker_pids,
)

BUDGET_SECONDS = 0.1
NOISY_SIZE = (6000, 4000)
WORST_COUNT = 10
# Two attackers (their X-Forwarded-For) and the upload each sends.
ATTACKERS = (
    ("203.0.113.7", "png_rgba16_8000", "image/png"),
    ("203.0.113.8", "jpeg_cmyk_progressive_8000", "image/jpeg"),
)
LEGITIMATE_CLIENT = "198.51.100.1"
# The default RATE_LIMIT_PER_IP is 30/m: one upload every 2 s is the most it lets through.
ATTACK_INTERVAL_SECONDS = 2.0


class OverBudget(BaseException):
    """Raised by the in-process timer's handler.

    A BaseException, as an in-process design would need: `prepare` turns
    every Exception from a decoder into a refusal, and this must get out.
    """


@lru_cache(maxsize=1)
def noisy_progressive_jpeg() -> bytes:
    """Grey noise saved as a progressive JPEG: seconds of work inside libjpeg, little Python."""
    return photos.encode(Image.effect_noise(NOISY_SIZE, 60), "JPEG", progressive=True, quality=90)


def _limits(**budget):
    from inference_api.imaging.limits import DecodeLimits

    common.setup_django()
    return DecodeLimits.from_settings(**budget)


def _model_input():
    from inference_api.imaging.limits import ModelInput

    return ModelInput()


def _reaped_cpu_seconds(pool) -> float:
    """CPU of the pool's decoders that have ended and been reaped (by its zygote)."""
    return reaped_cpu_seconds(pool.zygote_pid())


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000


# --- (a) how the budget is enforced ------------------------------------------------------------


def stop_with_itimer(data: bytes, budget: float) -> dict:
    """In-process: ITIMER_PROF and a Python handler that raises.

    The handler only runs between bytecodes, so a decode is stopped at the
    first return from C after the timer fires, not when it fires.
    """
    from inference_api.imaging.prepare import prepare

    def over(signum, frame) -> None:
        raise OverBudget()

    previous = signal.signal(signal.SIGPROF, over)
    started, cpu = time.perf_counter(), time.process_time()
    stopped = False
    try:
        signal.setitimer(signal.ITIMER_PROF, budget)
        prepare(data, _limits(), _model_input())
    except OverBudget:
        stopped = True
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)
    elapsed = _ms_since(started)
    return {
        "stopped": stopped,
        "answer_ms": elapsed,
        "ended_ms": elapsed,
        "cpu_ms": (time.process_time() - cpu) * 1000,
    }


def stop_with_thread(data: bytes, budget: float) -> dict:
    """A worker thread with a deadline: the caller can answer at the deadline, the decode goes on.

    Python cannot stop a thread, least of all one inside C: the CPU (and the
    memory) keep being spent until the decode ends by itself.
    """
    from inference_api.imaging.prepare import Refused, prepare

    spent: list[float] = []

    def decode() -> None:
        cpu = time.thread_time()
        try:
            prepare(data, _limits(), _model_input())
        except Refused:
            pass
        spent.append((time.thread_time() - cpu) * 1000)

    started = time.perf_counter()
    thread = threading.Thread(target=decode)
    thread.start()
    thread.join(budget)
    answer = _ms_since(started)
    stopped = not thread.is_alive()
    thread.join()
    return {"stopped": stopped, "answer_ms": answer, "ended_ms": _ms_since(started),
            "cpu_ms": spent[0] if spent else float("nan")}  # fmt: skip


def stop_with_decoder(pool, data: bytes, budget: float) -> dict:
    """A decoder process (the server's way): the kernel ends it when its CPU timer fires."""
    from inference_api.imaging.prepare import Refused

    limits = _limits(cpu_seconds=budget, wall_seconds=max(1.0, 10 * budget))
    # A tiny job first: the decoder that takes the real one has finished starting, and the
    # CPU it has used so far (its start-up) is subtracted from what the kernel reports.
    pool.decode(photos.tiny_jpeg(), _limits(), _model_input())
    (next_decoder, *_) = pool.pids()
    before = _reaped_cpu_seconds(pool) + cpu_seconds(next_decoder)
    started = time.perf_counter()
    code = "accepted"
    try:
        pool.decode(data, limits, _model_input())
    except Refused as refused:
        code = refused.error.code
    elapsed = _ms_since(started)
    # The pool has the zygote reap the killed decoder before raising: its CPU is counted there.
    return {"stopped": code == "too_costly", "answer_ms": elapsed, "ended_ms": elapsed,
            "cpu_ms": (_reaped_cpu_seconds(pool) - before) * 1000, "code": code}  # fmt: skip


def ready_pool(spare: int):
    """A DecoderPool whose decoder has started and done one tiny job (no start-up in timings)."""
    from inference_api.sandbox.pool import DecoderPool

    pool = DecoderPool(spare=spare)
    pool.warm()
    pool.decode(photos.tiny_jpeg(), _limits(), _model_input())
    return pool


def enforcement_inputs() -> dict[str, bytes]:
    """Decodes that spend their time in C: many short calls, and one long call.

    Pillow feeds libjpeg 64 KB at a time, so the noisy JPEG's entropy
    decoding returns to Python often; libwebp decodes the 38-byte lossless
    WebP's 8000x8000 canvas (scaled) in one ctypes call.
    """
    from inference_api.testing.images.costly import build

    return {
        f"noisy progressive JPEG {NOISY_SIZE[0]}x{NOISY_SIZE[1]}": noisy_progressive_jpeg(),
        "38-byte lossless WebP, 8000x8000": build("webp_lossless_38_bytes_8000"),
    }


def enforcement(repeats: int, overhead_repeats: int) -> dict:
    """The three ways side by side on each input, then their cost on a 2 MP JPEG."""
    pool = ready_pool(spare=1)
    try:
        inputs = [
            stopping(pool, label, data, repeats) for label, data in enforcement_inputs().items()
        ]
        overhead = overhead_on_photo(pool, overhead_repeats)
    finally:
        pool.close()
    return {"budget_ms": BUDGET_SECONDS * 1000, "inputs": inputs, "overhead": overhead}


def stopping(pool, label: str, data: bytes, repeats: int) -> dict:
    """One input: its unbounded decode, then each way with the budget, taking turns."""
    unbounded_cpu = time.process_time()
    unbounded = common.timed(lambda: _prepare_quietly(data), 1)[0]
    unbounded_cpu = (time.process_time() - unbounded_cpu) * 1000
    runs: dict[str, list[dict]] = {"itimer": [], "thread": [], "decoder": []}
    for _ in range(repeats):
        runs["itimer"].append(stop_with_itimer(data, BUDGET_SECONDS))
        runs["thread"].append(stop_with_thread(data, BUDGET_SECONDS))
        runs["decoder"].append(stop_with_decoder(pool, data, BUDGET_SECONDS))
    return {
        "label": label,
        "bytes": len(data),
        "unbounded_ms": unbounded,
        "unbounded_cpu_ms": unbounded_cpu,
        "ways": {name: _summary(found) for name, found in runs.items()},
    }


def _prepare_quietly(data: bytes) -> None:
    from inference_api.imaging.prepare import Refused, prepare

    try:
        prepare(data, _limits(), _model_input())
    except Refused:
        pass


def _summary(runs: list[dict]) -> dict:
    return {
        "stopped": sum(r["stopped"] for r in runs),
        "runs": len(runs),
        "answer_ms": common.median([r["answer_ms"] for r in runs]),
        "ended_ms": common.median([r["ended_ms"] for r in runs]),
        "cpu_ms": common.median([r["cpu_ms"] for r in runs]),
        "codes": sorted({r.get("code", "") for r in runs} - {""}),
    }


def overhead_on_photo(pool, repeats: int) -> dict:
    """Each way's time on a 2 MP JPEG's `prepare` (within budget), taking turns each round."""
    from inference_api.imaging.prepare import prepare

    data = photos.jpeg((1632, 1224))
    limits, shape = _limits(), _model_input()

    def plain() -> None:
        prepare(data, limits, shape)

    def with_itimer() -> None:
        previous = signal.signal(signal.SIGPROF, _raise_over_budget)
        signal.setitimer(signal.ITIMER_PROF, limits.cpu_seconds)
        try:
            prepare(data, limits, shape)
        finally:
            signal.setitimer(signal.ITIMER_PROF, 0)
            signal.signal(signal.SIGPROF, previous)

    def in_thread() -> None:
        thread = threading.Thread(target=plain)
        thread.start()
        thread.join(limits.wall_seconds)

    def in_decoder() -> None:
        pool.decode(data, limits, shape)

    ways = {"in process, no budget": plain, "itimer": with_itimer, "thread": in_thread,
            "decoder": in_decoder}  # fmt: skip
    for way in ways.values():
        way()
    samples: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(repeats):
        for name, way in ways.items():
            samples[name].extend(common.timed(way, 1))
    base = samples["in process, no budget"]
    return {
        "bytes": len(data),
        "repeats": repeats,
        "median_ms": {name: common.median(found) for name, found in samples.items()},
        # Paired with the plain run of the same round, so both saw the same load.
        "overhead_ms": {
            name: common.median([a - b for a, b in zip(found, base, strict=True)])
            for name, found in samples.items()
            if name != "in process, no budget"
        },
    }


def _raise_over_budget(signum, frame) -> None:
    raise OverBudget()


# --- (b) the worst allowed inputs --------------------------------------------------------------


def costly_cases() -> list[tuple[str, str, str]]:
    """(name, content type, expected) of every adversarial case the tests build."""
    from inference_api.testing.images.costly import COSTLY

    return [(name, content_type, expected) for name, (_, content_type, expected) in COSTLY.items()]


def decode_alone(name: str, limits) -> dict:
    """One case in a fresh decoder (its peak memory is this decode's alone).

    A case stopped at the CPU or wall-clock budget is decoded once more, in
    another fresh decoder with room to finish, to show how far over it was.
    """
    from inference_api.testing.images.costly import build

    data = build(name)
    row = {"name": name, "bytes": len(data), **_decode_in_fresh_decoder(data, limits)}
    if row["verdict"] == "too_costly":
        roomy = dataclasses.replace(limits, cpu_seconds=30.0, wall_seconds=60.0)
        again = _decode_in_fresh_decoder(data, roomy)
        row["unbounded"] = {k: again[k] for k in ("verdict", "cpu_ms", "above_idle_kb")}
    return row


def _decode_in_fresh_decoder(data: bytes, limits) -> dict:
    """Verdict, CPU, memory and wall clock of one decode in a new decoder process.

    The memory is the decoder's VmHWM from /proc before and after the job,
    read from outside (`cost.above_idle_kb`, the decoder's own, is VmHWM-based
    too; getrusage's ru_maxrss would start at the parent's high-water mark).
    """
    from inference_api.imaging.prepare import Refused

    pool = ready_pool(spare=0)
    try:
        (pid,) = pool.pids()
        idle_kb = status_kb(pid, "VmHWM")
        started = time.perf_counter()
        try:
            prepared = pool.decode(data, limits, _model_input())
        except Refused as refused:
            return {"verdict": refused.error.code, "cpu_ms": None, "above_idle_kb": None,
                    "wall_ms": _ms_since(started)}  # fmt: skip
        wall = _ms_since(started)
        peak_kb = status_kb(pid, "VmHWM")
        return {
            "verdict": "accepted",
            "cpu_ms": prepared.cost.cpu_ms,
            "above_idle_kb": peak_kb - idle_kb,
            "idle_kb": idle_kb,
            "reported_above_idle_kb": prepared.cost.above_idle_kb,
            "wall_ms": wall,
        }
    finally:
        pool.close()


def worst_allowed() -> dict:
    """The accepted cases (and refused ones up to ten) alone, then through a one-worker server."""
    limits = _default_limits()
    cases = costly_cases()
    accepted = [c for c in cases if c[2] == "accepted"]
    refused = [c for c in cases if c[2] != "accepted"]
    alone = {name: decode_alone(name, limits) for name, _, _ in accepted + refused}
    # "The worst ten": every accepted case, then the refused ones that cost the most wall clock.
    worst = sorted(accepted, key=lambda c: -alone[c[0]]["wall_ms"])
    worst += sorted(refused, key=lambda c: -alone[c[0]]["wall_ms"])[: WORST_COUNT - len(worst)]
    served = serve_worst([(name, content_type) for name, content_type, _ in worst])
    return {
        "limits": {
            "cpu_seconds": limits.cpu_seconds,
            "memory_mib": limits.memory_bytes / 2**20,
            "wall_seconds": limits.wall_seconds,
        },
        "worst": [{**alone[name], "expected": expected} for name, _, expected in worst],
        "refused": [{**alone[name], "expected": expected} for name, _, expected in refused],
        "served": served,
    }


def _default_limits():
    """The configuration's budget (the suite's settings when bench/budget.py runs on its own)."""
    from inference_api.imaging.limits import DecodeLimits

    common.setup_django()
    return DecodeLimits.from_settings()


def serve_worst(cases: list[tuple[str, str]]) -> dict:
    """Send each case to a one-worker server; the worker's and its decoders' peak RSS after each."""
    from inference_api.testing.images.costly import build

    photo = wire.multipart(photos.jpeg((1632, 1224)), "image/jpeg", "photo.jpg")
    with common.bench_server(workers=1) as server:
        (worker,) = worker_pids(server.process.pid)
        for _ in range(3):
            wire.post(server.url, photo)
        idle_kb = status_kb(worker, "VmRSS")
        rows = []
        for name, content_type in cases:
            body = wire.multipart(build(name), content_type, name)
            reply = wire.post(server.url, body, timeout=120)
            decoders = descendants(worker)
            rows.append(
                {
                    "name": name,
                    "status": reply.status,
                    "code": _code(reply) if reply.status != 200 else "ok",
                    "ms": reply.elapsed_ms,
                    "worker_hwm_kb": status_kb(worker, "VmHWM"),
                    "decoders_hwm_kb": max(
                        (status_kb(pid, "VmHWM") for pid in decoders), default=0
                    ),
                }
            )
        after_kb = status_kb(worker, "VmRSS")
    return {"idle_kb": idle_kb, "after_kb": after_kb, "rows": rows}


# --- (c) legitimate traffic under attack -------------------------------------------------------


def legitimate_traffic(url: str, body: bytes, seconds: float) -> dict:
    """A client sending `body` back to back for `seconds`: latency of its answers and req/s."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        reply = wire.post(url, body, headers={"X-Forwarded-For": LEGITIMATE_CLIENT})
        statuses[reply.status] = statuses.get(reply.status, 0) + 1
        if reply.status == 200:
            latencies.append(reply.elapsed_ms)
    elapsed = time.monotonic() - started
    return {
        "requests": sum(statuses.values()),
        "statuses": statuses,
        "rps": len(latencies) / elapsed,
        "median_ms": common.median(latencies),
        "p95_ms": common.percentile(latencies, 95),
        "max_ms": max(latencies, default=float("nan")),
    }


def attack(url: str, address: str, body: bytes, stop: threading.Event, answers: dict) -> None:
    """Send `body` from `address` at the rate limit: one start every ATTACK_INTERVAL_SECONDS."""
    next_at = time.monotonic()
    while not stop.is_set():
        reply = wire.post(url, body, headers={"X-Forwarded-For": address}, timeout=120)
        key = str(reply.status) if reply.status == 200 else f"{reply.status} {_code(reply)}"
        answers[key] = answers.get(key, 0) + 1
        # Never faster than the limit; a slow answer is followed at once, then the pace resumes.
        next_at = max(next_at + ATTACK_INTERVAL_SECONDS, time.monotonic())
        stop.wait(next_at - time.monotonic())


def _code(reply) -> str:
    try:
        return reply.json().get("code", "")
    except ValueError:
        return "not JSON"


def under_attack(seconds: float) -> dict:
    """The legitimate client alone, then with two attackers, on one 2-worker server."""
    from inference_api.testing.images.costly import build

    legit = wire.multipart(photos.jpeg((1632, 1224)), "image/jpeg", "photo.jpg")
    bodies = {address: wire.multipart(build(name), content_type, name)
              for address, name, content_type in ATTACKERS}  # fmt: skip
    env = {"TRUSTED_PROXIES": "127.0.0.1/32"}
    with common.bench_server(workers=2, env=env) as server:
        for _ in range(4):
            wire.post(server.url, legit)
        calm = legitimate_traffic(server.url, legit, seconds)
        stop = threading.Event()
        answers: dict[str, dict] = {address: {} for address in bodies}
        threads = [
            threading.Thread(target=attack, args=(server.url, a, body, stop, answers[a]))
            for a, body in bodies.items()
        ]
        for thread in threads:
            thread.start()
        attacked = legitimate_traffic(server.url, legit, seconds)
        stop.set()
        for thread in threads:
            thread.join()
        time.sleep(0.5)  # the last audit rows are written after the answer
        audited = {address: _audited(server, address) for address in bodies}
    return {
        "seconds": seconds,
        "services": server.services,
        "calm": calm,
        "attacked": attacked,
        "attackers": [
            {
                "address": address,
                "case": name,
                "answers": answers[address],
                "sent": sum(answers[address].values()),
                "audited": audited[address],
            }
            for address, name, _ in ATTACKERS
        ],
    }


def _audited(server, address: str) -> int:
    sql = "SELECT COALESCE(SUM(count), 0) FROM inference_api_auditlog WHERE client_ip = %s"
    rows = database_rows(server.env["DATABASE_URL"], sql, (address,))
    return int(rows[0][0]) if rows else 0


def measure(quick: bool) -> dict:
    """Everything of this section (run_all calls this)."""
    return {
        "enforcement": enforcement(repeats=2 if quick else 3, overhead_repeats=15 if quick else 60),
        "worst": worst_allowed(),
        "attack": under_attack(6 if quick else 20),
    }


if __name__ == "__main__":  # .venv/bin/python -m bench.budget [--quick]: part (a) alone
    import json
    import sys

    quick = "--quick" in sys.argv
    print(json.dumps(enforcement(1 if quick else 3, 10 if quick else 60), indent=1, default=str))
