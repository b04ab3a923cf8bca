"""The server side of the decode budget: a few decoder processes per server process.

Every upload's structural checks, decode and crop run in a decoder process
(`child.py`) whose CPU time, address space and wall clock the kernel bounds.
A decoder that goes over any of them is stopped by the kernel, or killed
here when its answer is late; the upload is refused with 422 `too_costly`
and the decoder is replaced, while this process, which never held the
decoded frame, answers at once. What comes back is only the model's input
square and the facts the audit needs.

Each server process has its own pool (`current_pool`; a forked child makes
a new one): one decoder per job in flight plus `SPARE` started ahead, so a
replacement is warm before it is needed. Decoders are forked from the
pool's zygote (`zygote.py`): a fresh Python with no secret in its
environment, no Django and no torch, started once, that has imported and
exercised the decoding libraries. A replacement so costs a fork (a few ms
of CPU) where a fresh Python cost 0.23-0.76 CPU-s; idle, a decoder shares
most of its ~40 MB with the zygote.
"""

import json
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

from .. import errors
from ..context import Examined
from ..imaging.limits import DecodeLimits, ModelInput
from ..imaging.prepare import Cost, Prepared
from . import protocol

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
SPARE = 1
START_TIMEOUT_SECONDS = 60.0
# The server waits this long past the wall-clock budget before killing a
# decoder itself (the decoder's own timer should have stopped it first).
KILL_MARGIN_SECONDS = 0.5
SOCKET_BUFFER_BYTES = 4 * 1024 * 1024
MIB = 1024 * 1024
# glibc's malloc in the decoders. With its adaptive defaults a decoder gave the
# heap of each decode back to the kernel when it freed it and faulted it back
# in on the next (a 2 MP PNG: ~3,900 page faults, 6.5 ms of system time per
# decode). Fixed, a decode's buffers under 32 MiB stay in the heap between
# jobs, up to 32 MiB of free heap is kept, and a decoder idle for
# child.IDLE_TRIM_SECONDS hands it all back (malloc_trim). Larger buffers
# (an 8000x8000 frame) are mapped and unmapped on their own as before.
DECODER_MALLOC = {"MALLOC_MMAP_THRESHOLD_": str(32 * MIB), "MALLOC_TRIM_THRESHOLD_": str(32 * MIB)}
# The exit code reported for a decoder whose zygote could not tell (it was gone).
UNKNOWN_EXIT = 255
# Variables a decoder may see: no secret, no database or cache address.
CHILD_ENVIRONMENT = ("PATH", "LANG", "LC_ALL", "TZ", "TMPDIR")


class DecoderDied(Exception):
    """The decoder process ended (or had to be killed) before answering."""


class DecoderGone(DecoderDied):
    """The decoder process had ended before it was given the job (not the upload's doing)."""


class Zygote:
    """The warm parent of one pool's decoders (`zygote.py`) and the control socket to it.

    A fresh Python with the decoders' clean environment, started once per
    pool; every decoder is a fork of it. Thread-safe: one exchange at a time.
    """

    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "inference_api.sandbox.zygote", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                cwd=ROOT,
                env=_child_environment(),
                stdin=subprocess.DEVNULL,
            )
        finally:
            theirs.close()
        self.sock = ours
        self.ready = False
        self._lock = threading.Lock()

    @property
    def pid(self) -> int:
        return self.process.pid

    def fork(self, decoder_end: socket.socket) -> "ForkedProcess":
        """A new decoder on `decoder_end`; raises DecoderDied if the zygote cannot make one."""
        with self._lock:
            try:
                self._wait_ready()
                socket.send_fds(self.sock, [b'{"op": "fork"}'], [decoder_end.fileno()])
                reply, fds = self._receive(max_fds=1)
            except (OSError, ValueError) as exc:
                raise DecoderDied(f"zygote {self.pid} could not fork: {exc}") from exc
        return ForkedProcess(self, int(reply["pid"]), fds[0])

    def exit_status(self, pid: int) -> int | None:
        """Decoder `pid`'s exit code once it has ended (as Popen's); None if unknown."""
        with self._lock:
            try:
                self.sock.send(json.dumps({"op": "wait", "pid": pid}).encode())
                reply, _ = self._receive(max_fds=0)
            except (OSError, ValueError):
                return None
        return reply.get("status")

    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self) -> None:
        """Stop the zygote now and reap it (its decoders end on their own sockets' end)."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self.sock.close()

    def _wait_ready(self) -> None:
        if not self.ready:
            reply, _ = self._receive(max_fds=0)
            self.ready = bool(reply.get("ready"))

    def _receive(self, max_fds: int) -> tuple[dict, list[int]]:
        self.sock.settimeout(START_TIMEOUT_SECONDS)
        message, fds, _, _ = socket.recv_fds(self.sock, protocol.MAX_HEAD, max(max_fds, 1))
        if not message:
            raise OSError("the zygote is gone")
        if max_fds and not fds:
            raise OSError("the zygote sent no pidfd")
        return json.loads(message), fds


class ForkedProcess:
    """A decoder the zygote forked, watched and signalled through its pidfd.

    The subset of Popen the pool uses (pid, poll, wait, kill, returncode). A
    pidfd names this process and no other, even once its pid is reused, and
    is readable once it has ended; its exit code comes from the zygote, its
    parent, which reaps it.
    """

    def __init__(self, zygote: Zygote, pid: int, pidfd: int) -> None:
        self.zygote = zygote
        self.pid = pid
        self.pidfd = pidfd
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None and select.select([self.pidfd], [], [], 0)[0]:
            self._collect()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            if not select.select([self.pidfd], [], [], timeout)[0]:
                raise subprocess.TimeoutExpired("decoder", timeout or 0)
            self._collect()
        return self.returncode

    def kill(self) -> None:
        if self.returncode is None:
            try:
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
            except ProcessLookupError:
                pass  # ended already: wait() collects it

    def _collect(self) -> None:
        status = self.zygote.exit_status(self.pid)
        self.returncode = UNKNOWN_EXIT if status is None else status
        os.close(self.pidfd)


class Decoder:
    """One decoder process and the socket to it. Not thread-safe: one job at a time."""

    def __init__(self, zygote: "Zygote") -> None:
        ours, theirs = socket.socketpair()
        for end in (ours, theirs):
            _widen(end)
        try:
            self.process = zygote.fork(theirs)
        finally:
            theirs.close()
        self.sock = ours
        self.ready = False
        self.idle_rss_kb = 0

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_ready(self, timeout: float = START_TIMEOUT_SECONDS) -> None:
        if self.ready:
            return
        self.sock.settimeout(timeout)
        try:
            head, _ = protocol.receive(self.sock, 0)
        except (OSError, protocol.ChannelClosed) as exc:
            self.kill()
            raise DecoderDied(f"decoder {self.pid} did not start: {exc}") from exc
        self.ready = bool(head.get("ready"))
        self.idle_rss_kb = int(head.get("idle_rss_kb", 0))

    def send(self, head: dict, data: bytes) -> None:
        """Hand one job over; raises DecoderGone if the process is no longer there."""
        self.wait_ready()
        try:
            protocol.send(self.sock, head, data)
        except OSError as exc:
            ended = self.describe_end()
            self.kill()
            raise DecoderGone(f"decoder {self.pid} {ended}") from exc

    def answer(self, wall_seconds: float) -> tuple[dict, bytes]:
        """Wait for the job's answer; raises DecoderDied if none comes in time."""
        self.sock.settimeout(wall_seconds + KILL_MARGIN_SECONDS)
        try:
            return protocol.receive(self.sock, protocol.MAX_REPLY_BODY)
        except (OSError, protocol.ChannelClosed, ValueError) as exc:
            if isinstance(exc, protocol.ChannelClosed):
                self._wait_exit()  # the socket closes a moment before the exit is reported
            ended = self.describe_end()
            self.kill()
            raise DecoderDied(f"decoder {self.pid} {ended}") from exc

    def _wait_exit(self, seconds: float = 1.0) -> None:
        try:
            self.process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            pass

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """Stop the process now and reap it (never leaves a zombie)."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self.sock.close()

    def retire(self) -> None:
        self.sock.close()
        try:
            self.process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            self.kill()

    def describe_end(self) -> str:
        code = self.process.poll()
        if code is None:
            return "killed after its deadline"
        if code == UNKNOWN_EXIT:
            return "ended"
        if code < 0:
            return f"ended by {signal.Signals(-code).name}"
        return f"exited with status {code}"


class DecoderPool:
    """Decoder processes for one server process; `decode` runs one upload in one of them."""

    def __init__(self, spare: int = SPARE) -> None:
        self.spare = spare
        self.pid = os.getpid()
        self._idle: list[Decoder] = []
        self._zygote: Zygote | None = None
        self._lock = threading.Lock()

    def decode(self, data: bytes, limits: DecodeLimits, model_input: ModelInput) -> Prepared:
        """The model's input for `data`, decoded within `limits`' budget.

        Raises the ApiError of the check that refused the upload (carrying
        what the decoder learned of it, `examined`) when a check refuses the
        upload or the decode goes over budget (`too_costly`).
        """
        head = {"limits": limits.as_dict(), "model_input": model_input.as_dict()}
        decoder = self._hand_over(head, data)
        try:
            reply, body = decoder.answer(limits.wall_seconds)
        except DecoderDied as exc:
            logger.warning("Decode over budget: %s", exc)
            self.warm()
            raise errors.TooCostly() from None
        self._keep_or_retire(decoder, reply)
        return _prepared(reply, body, decoder.idle_rss_kb)

    def warm(self) -> None:
        """Start decoders until `spare` + 1 are idle or starting (waits for the zygote only).

        A failure is logged, not raised: the next upload tries again (`_take`).
        """
        with self._lock:
            try:
                while len(self._idle) < self.spare + 1:
                    self._idle.append(self._new_decoder())
            except DecoderDied as exc:
                logger.error("Could not start a decoder: %s", exc)

    def ready(self, timeout: float) -> None:
        """Start decoders if none are, and wait for one; raises DecoderDied if none comes up."""
        self.warm()
        with self._lock:
            first = self._idle[0]
        if not first.ready and not select.select([first.sock], [], [], timeout)[0]:
            raise DecoderDied(f"decoder {first.pid} not ready after {timeout:g} s")
        first.wait_ready()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
            zygote, self._zygote = self._zygote, None
        for decoder in idle:
            decoder.kill()
        if zygote is not None:
            zygote.close()

    def zygote_pid(self) -> int | None:
        with self._lock:
            return self._zygote.pid if self._zygote else None

    def pids(self) -> list[int]:
        with self._lock:
            return [decoder.pid for decoder in self._idle]

    def _hand_over(self, head: dict, data: bytes) -> Decoder:
        """A live decoder that has the job; one found dead while idle is replaced, once."""
        try:
            decoder = self._take()
            decoder.send(head, data)
            return decoder
        except DecoderGone as exc:
            logger.warning("Replacing a decoder that ended while idle: %s", exc)
        except DecoderDied as exc:
            raise _unavailable(exc) from exc
        try:
            decoder = self._take()
            decoder.send(head, data)
        except DecoderDied as exc:
            raise _unavailable(exc) from exc
        return decoder

    def _take(self) -> Decoder:
        with self._lock:
            while self._idle and not self._idle[0].alive():
                self._idle.pop(0).kill()
            decoder = self._idle.pop(0) if self._idle else self._new_decoder()
        return decoder

    def _new_decoder(self) -> Decoder:
        """A decoder forked from the zygote, which is (re)started when it is not there.

        The caller holds the lock. Raises DecoderDied if a fresh zygote cannot fork either.
        """
        if self._zygote is not None and not self._zygote.alive():
            logger.warning("Replacing the decoders' zygote %s, which ended", self._zygote.pid)
            self._zygote.close()
            self._zygote = None
        if self._zygote is None:
            self._zygote = Zygote()
        try:
            return Decoder(self._zygote)
        except DecoderDied as exc:
            logger.warning("Replacing the decoders' zygote: %s", exc)
            self._zygote.close()
            self._zygote = Zygote()
            return Decoder(self._zygote)

    def _keep_or_retire(self, decoder: Decoder, reply: dict) -> None:
        if reply.get("retiring"):
            decoder.retire()
            self.warm()
            return
        with self._lock:
            self._idle.insert(0, decoder)


def _widen(sock: socket.socket) -> None:
    """Socket buffers that hold a whole upload, so it crosses in one write, not in turns.

    With the default ~200 KB a 2 MP JPEG went over in three turns of the two
    processes (0.6 ms; 0.3 ms in one). The kernel caps the size at
    net.core.wmem_max/rmem_max, so this asks and takes what it gets.
    """
    for option in (socket.SO_SNDBUF, socket.SO_RCVBUF):
        sock.setsockopt(socket.SOL_SOCKET, option, SOCKET_BUFFER_BYTES)


def _unavailable(exc: DecoderDied) -> errors.Overloaded:
    logger.error("No decoder available: %s", exc)
    return errors.Overloaded()


def _prepared(reply: dict, body: bytes, idle_rss_kb: int) -> Prepared:
    examined = _examined(reply.get("examined"))
    cost = Cost(
        cpu_ms=float(reply.get("cpu_ms", 0.0)),
        idle_rss_kb=idle_rss_kb,
        peak_rss_kb=int(reply.get("peak_rss_kb", 0)),
        image_class=str(reply.get("image_class", "")),
        allowance_ms=float(reply.get("allowance_ms", 0.0)),
    )
    if not reply.get("ok"):
        raise errors.error_class(reply.get("code", ""))(reply.get("message"), examined=examined)
    size = int(reply["size"])
    if len(body) != size * size * 3:
        raise errors.InvalidImage(examined=examined)
    return Prepared(examined=examined, pixels=body, size=size, cost=cost)


def _examined(sent: object) -> Examined:
    """What the decoder says it learned, read field by field (it decoded hostile bytes)."""
    sent = sent if isinstance(sent, dict) else {}

    def side(name: str) -> int | None:
        value = sent.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    detected = sent.get("detected_format")
    return Examined(
        detected_format=detected if isinstance(detected, str) else "",
        width=side("width"),
        height=side("height"),
    )


def _child_environment() -> dict[str, str]:
    env = {name: os.environ[name] for name in CHILD_ENVIRONMENT if name in os.environ}
    env.update(DECODER_MALLOC)
    env.update(
        PYTHONPATH=str(ROOT),
        PYTHONDONTWRITEBYTECODE="1",
        OMP_NUM_THREADS="1",
        OPENBLAS_NUM_THREADS="1",
        # No transparent huge pages (glibc.malloc.hugetlb=1 was set here): they
        # saved 20-35% on a warm decoder's large decodes, but a decoder forked
        # from the zygote paid them on its first one: an 8000x8000 CMYK
        # progressive JPEG took 3.9 s of wall clock there (0.75 s without),
        # over the 3 s ceiling, and a fresh decoder comes after every refusal.
    )
    return env


_pool: DecoderPool | None = None
_pool_lock = threading.Lock()


def current_pool() -> DecoderPool:
    """This process's pool, made on first use (a forked process makes its own)."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool.pid != os.getpid():
            _pool = DecoderPool()
        return _pool


def close_pool() -> None:
    """Stop this process's decoders (at worker exit; new ones start on next use)."""
    global _pool
    with _pool_lock:
        pool, _pool = _pool, None
    if pool is not None and pool.pid == os.getpid():
        pool.close()
