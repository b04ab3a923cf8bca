"""Replicas of the service, each a gunicorn of its own on a host of its own (netns.Host).

A `Replica` starts the real server in its host's namespace, listening on the
host's address, with its own environment (the production settings, the
shared PostgreSQL, Redis and S3 reached through the bridge). `stop()` is the
graceful stop an orchestrator does (SIGTERM: gunicorn finishes the requests
in flight, then exits); `wait_ready()` polls /readyz as a readiness probe
does, with `Host: localhost` as the kubelet sends it. Each start writes a
log of its own; `request_ids()` reads which requests this replica answered
from all of them.
"""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import requests

from . import lanes
from .netns import Host
from .servers import BIN, GUNICORN_CONF, REPO, worker_pids

PORT = 8000


class NotReady(RuntimeError):
    """A replica that did not become ready."""


class Replica:
    """One replica: its host, its environment and its current gunicorn."""

    def __init__(self, name: str, host: Host, env: dict[str, str], log_dir: Path) -> None:
        self.name, self.host, self.env, self.log_dir = name, host, dict(env), log_dir
        self.address = f"{host.address}:{PORT}"
        self.url = f"http://{self.address}"
        self.process: subprocess.Popen | None = None
        self.starts = 0

    def start(self, **changes: str) -> None:
        """Starts gunicorn with the environment changed by `changes` (kept for later starts).

        Each start is a new pod: a VAR_DIR (and model cache) of its own, empty,
        as a pod's emptyDir is, so a model is always fetched and checked anew.
        """
        lanes.require("live", "a replica (gunicorn)")
        self.env.update(changes)
        self.starts += 1
        log_path = self.log_dir / f"{self.name}-{self.starts}.log"
        var = self.log_dir / f"{self.name}-{self.starts}-var"
        var.mkdir()
        command = [
            str(BIN / "gunicorn"),
            "-c",
            str(GUNICORN_CONF),
            "--bind",
            self.address,
            "config.wsgi:application",
        ]
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.host.command(command),
                cwd=REPO,
                env={
                    **self.env,
                    "GUNICORN_BIND": self.address,
                    "VAR_DIR": str(var),
                    "MODEL_CACHE_DIR": str(var / "model-cache"),
                    "TMPDIR": str(var),
                },
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def readiness(self) -> tuple[int, dict]:
        """/readyz's status and body (0 when nothing answers)."""
        try:
            response = requests.get(
                self.url + "/readyz", headers={"Host": "localhost"}, timeout=5
            )
        except requests.RequestException:
            return 0, {}
        return response.status_code, response.json()

    def wait_ready(self, timeout: float = 120, settle: float | None = None) -> float:
        """Seconds until /readyz answers 200; raises NotReady if it does not.

        Gives up after `timeout`, or `settle` seconds after /readyz first
        answered something else (a replica that answers "not ready" for that
        long will not get ready by itself: the model store retries every 5 s).
        """
        started, answered = time.monotonic(), None
        while time.monotonic() - started < timeout:
            if self.process.poll() is not None:
                raise NotReady(f"{self.name} exited:\n{self.log()[-3000:]}")
            status, _ = self.readiness()
            if status == 200:
                return time.monotonic() - started
            if status and answered is None:
                answered = time.monotonic()
            if answered is not None and settle is not None and time.monotonic() - answered > settle:
                break
            time.sleep(0.25)
        raise NotReady(f"{self.name} not ready:\n{self.log()[-3000:]}")

    def stop(self, timeout: float = 60) -> float:
        """Graceful stop (SIGTERM to the master); seconds it took. Killed past `timeout`."""
        if self.process is None or self.process.poll() is not None:
            return 0.0
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        return time.monotonic() - started

    def kill(self) -> None:
        """SIGKILL to the whole process group: master, workers and decoders."""
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()

    def kill_busy_worker(self, timeout: float = 5) -> tuple[int, bool]:
        """SIGKILLs this replica's worker, caught running if it can be: (its pid, caught busy).

        A sync worker in state R is computing a request (decode or forward
        pass); one that is never seen running in `timeout` is killed anyway.
        """
        deadline = time.monotonic() + timeout
        while True:
            [worker] = worker_pids(self.process.pid)[:1] or [0]
            busy = bool(worker) and _state(worker) == "R"
            if worker and (busy or time.monotonic() > deadline):
                os.kill(worker, signal.SIGKILL)
                return worker, busy
            time.sleep(0.002)

    def cpu_seconds(self) -> float:
        """CPU time used so far by this gunicorn's processes: master, workers, decoders.

        Each live process's own time and that of its children it has reaped
        (decoders that were replaced), as a container's cgroup would count it.
        """
        if self.process is None:
            return 0.0
        pending, total = [self.process.pid], 0.0
        while pending:
            pid = pending.pop()
            total += _cpu_with_reaped_children(pid)
            pending += worker_pids(pid)
        return total

    def log(self) -> str:
        paths = sorted(self.log_dir.glob(f"{self.name}-*.log"))
        return "".join(path.read_text(errors="replace") for path in paths)

    def request_ids(self) -> set[str]:
        """Request ids of the API requests this replica answered (its JSON request lines)."""
        found = set()
        for line in self.log().splitlines():
            if line.startswith("{") and '"inference_api.requests"' in line:
                found.add(json.loads(line)["request_id"])
        return found


def _cpu_with_reaped_children(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # utime, stime, cutime, cstime: fields 14 to 17 of stat(5).
    return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return ""
