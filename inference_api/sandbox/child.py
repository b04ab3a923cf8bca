"""The decoder process: reads uploads from its socket, answers with the model's input.

Forked by the pool's zygote (`zygote.py`, which ran `warm_up` once), or
started as `python -m inference_api.sandbox.child FD`; either way with an
environment that holds no secret, and importing neither Django nor torch.
Before each job it arms the kernel's limits, so a decode over budget is
stopped wherever it is, in Python or deep in a C decoder's loop:

- CPU: an ITIMER_PROF timer of the upload's allowance (`imaging/cost.py`:
  a base for the walk, then what the header earns, at most `cpu_seconds`),
  whose signal is left at its default action (the kernel ends the process;
  no Python handler that a C loop would never let run), and RLIMIT_CPU at
  twice the ceiling plus 3 s as a backstop.
- Memory: RLIMIT_AS at the current address space plus `memory_bytes`; an
  allocation past it fails, which Pillow, numpy and libwebp report as out
  of memory (answered `too_costly`, then this process exits to be replaced).
- Wall clock: an ITIMER_REAL timer of the allowance's wall clock (at most
  `wall_seconds`), default action too;
  the server also kills the process if no answer comes in time.

It exits after `MAX_JOBS` jobs, so what fragmentation a decode leaves never
piles up. Between jobs it keeps its free heap (the pool fixes glibc's malloc
thresholds: the next decode does not fault it back in) until it has been
idle `IDLE_TRIM_SECONDS`, when it hands it back to the kernel.
"""

import ctypes
import logging
import os
import resource
import select
import signal
import socket
import sys
import time
import warnings
from dataclasses import asdict

from .. import errors
from ..context import Examined
from ..imaging import cost
from ..imaging.limits import DecodeLimits, ModelInput
from ..imaging.prepare import configure_pillow, prepare
from . import protocol

MAX_JOBS = 500
# Idle this long, a decoder gives its free heap back (malloc_trim): memory at
# rest is as before, and uploads less than this apart reuse the same pages.
# At 0.25 s, uploads half a second apart (the bench's rounds, a modest steady
# rate) faulted a 2 MP PNG's buffers back in every time: 32 instead of 24 ms.
IDLE_TRIM_SECONDS = 2.0
# setitimer(0) disarms: a job whose allowance is spent gets this, and is stopped at once.
MIN_TIMER = 0.001
MAX_UPLOAD = 64 * 1024 * 1024
PAGE = os.sysconf("SC_PAGE_SIZE")
WARM_UP_SIDE = 64
# What the warm-up's own small images need, no more; every job brings the
# server's limits (DecodeLimits.from_settings) in its head.
WARM_UP_LIMITS = DecodeLimits(
    max_dimension=WARM_UP_SIDE,
    max_pixels=WARM_UP_SIDE * WARM_UP_SIDE,
    max_jpeg_scans=1,
    cpu_seconds=1.0,
    memory_bytes=256 * 1024 * 1024,
    wall_seconds=1.0,
)
logger = logging.getLogger("inference_api.sandbox.child")


def main(fd: int) -> None:
    for signum in (signal.SIGPROF, signal.SIGALRM, signal.SIGXCPU):
        signal.signal(signum, signal.SIG_DFL)
    # Pillow's warnings about odd files would fill the server's log; the bomb
    # warning is made an error by configure_pillow, after this.
    warnings.simplefilter("ignore")
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # SIGXCPU would dump core
    sock = socket.socket(fileno=fd)
    configure_pillow(WARM_UP_LIMITS)  # each job sets the server's limits again
    protocol.send(sock, {"ready": True, "pid": os.getpid(), "idle_rss_kb": _status_kb("VmRSS")})
    for job in range(1, MAX_JOBS + 1):
        if not select.select([sock], [], [], IDLE_TRIM_SECONDS)[0]:
            _trim_heap()
        if _serve(sock, last=job == MAX_JOBS):
            os._exit(0)  # at once: the server waits for this exit


def _serve(sock: socket.socket, last: bool) -> bool:
    """Receive one job, run it, answer; True when this decoder retires.

    The upload and the answer go out of scope here, before the decoder idles.
    """
    try:
        head, data = protocol.receive(sock, MAX_UPLOAD)
    except (protocol.ChannelClosed, OSError):
        os._exit(0)  # the server is gone or closed us: nothing to tear down
    reply, body = run_job(head, data)
    reply["retiring"] = reply.get("retiring", False) or last
    protocol.send(sock, reply, body)
    return reply["retiring"]


def warm_up() -> None:
    """Load everything a decode touches (plugins, libwebp, numpy paths): forks start warm.

    One small image of each format through `prepare`, so what Pillow and the
    walks import or load lazily is in memory before the first fork.
    """
    import io

    from PIL import Image

    model_input = ModelInput()
    picture = Image.new("RGBA", (WARM_UP_SIDE, WARM_UP_SIDE), (10, 20, 30, 128))
    for image_format, mode in (("JPEG", "RGB"), ("PNG", "RGBA"), ("WEBP", "RGBA")):
        encoded = io.BytesIO()
        picture.convert(mode).save(encoded, image_format)
        prepare(encoded.getvalue(), WARM_UP_LIMITS, model_input)


def run_job(head: dict, data: bytes) -> tuple[dict, bytes]:
    """Decode one upload within the budget its header earns; the reply head and body.

    The walk runs under `cost.BASE_CPU_SECONDS`; once the header is read the
    limits are set again to the upload's allowance (`imaging/cost.py`),
    counted from the job's start, never above the head's ceilings.
    """
    limits = DecodeLimits.from_dict(head["limits"])
    model_input = ModelInput.from_dict(head["model_input"])
    configure_pillow(limits)
    _reset_peak_rss()
    started, began = _cpu_seconds(), time.monotonic()
    priced: list[cost.Allowance] = []

    def on_header(structure) -> None:
        allowance = cost.allowance(structure, limits, len(data))
        priced.append(allowance)
        arm(limits, allowance.cpu_seconds - (_cpu_seconds() - started),
            allowance.wall_seconds - (time.monotonic() - began))  # fmt: skip

    base = min(limits.cpu_seconds, cost.BASE_CPU_SECONDS)
    arm(limits, base, min(limits.wall_seconds, cost.WALL_FLOOR_SECONDS))
    try:
        prepared = prepare(data, limits, model_input, on_header)
    except errors.ApiError as refusal:
        return _refusal(refusal, started, priced), b""
    except MemoryError:
        return _refusal(errors.TooCostly(), started, priced), b""
    except Exception as exc:
        logger.info("Decoder failed: %s: %s", type(exc).__name__, exc)
        return _refusal(errors.InvalidImage(), started, priced), b""
    finally:
        disarm()
    reply = {"ok": True, "examined": asdict(prepared.examined), "size": prepared.size}
    reply.update(_usage(started, priced))
    return reply, prepared.pixels


def arm(limits: DecodeLimits, cpu_seconds: float, wall_seconds: float) -> None:
    """Set the kernel's limits for what is left of one job (see the module docstring).

    Called again when the header has set the job's allowance: the timers
    then count from now, for what the allowance has left.
    """
    cpu_seconds, wall_seconds = max(MIN_TIMER, cpu_seconds), max(MIN_TIMER, wall_seconds)
    if resource.getrlimit(resource.RLIMIT_AS)[0] == _hard(resource.RLIMIT_AS):  # first arm
        # The backstop is set once per job, from the ceiling, and never moved within it:
        # moving it when the header was read ended decodes far inside their timer by
        # SIGXCPU, about one in 200 on a loaded machine.
        backstop = int(_cpu_seconds() + 2 * limits.cpu_seconds) + 3
        resource.setrlimit(resource.RLIMIT_CPU, (backstop, _hard(resource.RLIMIT_CPU)))
        resource.setrlimit(
            resource.RLIMIT_AS, (_address_space() + limits.memory_bytes, _hard(resource.RLIMIT_AS))
        )
    signal.setitimer(signal.ITIMER_PROF, cpu_seconds)
    signal.setitimer(signal.ITIMER_REAL, wall_seconds)


def disarm() -> None:
    signal.setitimer(signal.ITIMER_PROF, 0)
    signal.setitimer(signal.ITIMER_REAL, 0)
    for limit in (resource.RLIMIT_AS, resource.RLIMIT_CPU):
        resource.setrlimit(limit, (_hard(limit), _hard(limit)))


def _hard(limit: int) -> int:
    return resource.getrlimit(limit)[1]


def _address_space() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[0]) * PAGE


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _refusal(error: errors.ApiError, started: float, priced: list) -> dict:
    """The refusal as it crosses the socket: its code, message and what it carried."""
    reply = {
        "ok": False,
        "code": error.code,
        "message": error.message,
        "examined": asdict(error.examined or Examined()),
        # Memory may be left fragmented or exhausted: start afresh.
        "retiring": error.code == errors.TooCostly.code,
    }
    reply.update(_usage(started, priced))
    return reply


def _usage(started: float, priced: list) -> dict:
    """What the job cost, and the allowance its header earned (none if refused before)."""
    cpu_ms = round((_cpu_seconds() - started) * 1000, 2)
    usage = {"cpu_ms": cpu_ms, "peak_rss_kb": _status_kb("VmHWM")}
    if priced:
        usage["image_class"] = priced[-1].image_class
        usage["allowance_ms"] = round(priced[-1].cpu_seconds * 1000, 2)
    return usage


def _trim_heap() -> None:
    """Hand the heap's free pages back to the kernel (glibc's malloc_trim; elsewhere nothing)."""
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (AttributeError, OSError):
        pass


def _status_kb(field: str) -> int:
    """A memory figure of this process from /proc (getrusage's peak starts at the parent's)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    return 0


def _reset_peak_rss() -> None:
    """Start this job's peak (VmHWM) from the current resident size."""
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
    except OSError:
        pass  # the peak then covers earlier jobs too: larger, never smaller


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    main(int(sys.argv[1]))
