"""Debian's nginx running the shipped deploy/nginx.conf, in front of one or more replicas.

`render()` fills the template's placeholders and nothing else, as envsubst
would. `Balancer` runs nginx before several upstream servers: APP_UPSTREAM
is filled with all of them (`a:8000; server b:8000`), and the ones the
orchestrator (the test) says are not ready are marked `down`, then nginx
reloads, as a Kubernetes Service drops a pod that is not ready from its
endpoints.
"""

import json
import re
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from . import lanes
from .servers import cpu_seconds, free_port

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "deploy" / "nginx.conf"
PLACEHOLDERS = ("NGINX_LISTEN", "APP_UPSTREAM", "STATIC_ROOT", "NGINX_RUN_DIR")
# Debian's build runs workers as nobody:nobody; Debian calls that group nogroup.
GLOBALS = "daemon off; master_process on; user nobody nogroup;"


def without_comments(text: str) -> str:
    return "\n".join(line.split("#", 1)[0] for line in text.splitlines())


def render(values: dict[str, str]) -> str:
    """deploy/nginx.conf with its placeholders filled, as envsubst would."""
    text = TEMPLATE.read_text()
    for name in PLACEHOLDERS:
        text = text.replace("${" + name + "}", values[name])
    if re.search(r"\$\{\w+\}", without_comments(text)):
        raise ValueError("an unfilled placeholder")
    return text


def streaming(text: str) -> str:
    """The rendered config with `proxy_request_buffering off;`: bodies passed on as they come."""
    shipped = "proxy_request_buffering on;"
    if text.count(shipped) != 1:
        raise ValueError(f"deploy/nginx.conf should say {shipped!r} once")
    return text.replace(shipped, "proxy_request_buffering off;")


def upstream_servers(addresses: list[str], serving: set[str]) -> str:
    """APP_UPSTREAM for several servers; those not in `serving` are marked down."""
    return "; server ".join(
        address if address in serving else f"{address} down" for address in addresses
    )


def workers_of(pid: int) -> set[int]:
    try:
        return {int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}
    except FileNotFoundError:
        return set()


class Balancer:
    """nginx on 127.0.0.1:`port` before `upstreams`; its JSON access log kept in `run_dir`."""

    def __init__(
        self,
        nginx: str,
        run_dir: Path,
        port: int,
        upstreams: list[str],
        edit: Callable[[str], str] = lambda text: text,
    ) -> None:
        self.nginx, self.run_dir, self.port, self.upstreams = nginx, run_dir, port, upstreams
        self.edit = edit  # applied to the rendered config (e.g. `streaming`)
        self.url = f"http://127.0.0.1:{port}"
        self.config = run_dir / "nginx.conf"
        self.access_log = run_dir / "access.log"
        self.static_root = run_dir / "static"
        self.process: subprocess.Popen | None = None

    def _write(self, serving: set[str]) -> None:
        self.config.write_text(
            self.edit(
                render(
                    {
                        "NGINX_LISTEN": f"127.0.0.1:{self.port}",
                        "APP_UPSTREAM": upstream_servers(self.upstreams, serving),
                        "STATIC_ROOT": str(self.static_root),
                        "NGINX_RUN_DIR": str(self.run_dir),
                    }
                )
            )
        )
        checked = subprocess.run(
            [self.nginx, "-c", str(self.config), "-e", "stderr", "-t", "-g", GLOBALS],
            capture_output=True,
            text=True,
        )
        if checked.returncode != 0:
            raise RuntimeError(checked.stderr)

    def start(self, serving: set[str]) -> None:
        lanes.require("live", "nginx")
        self.run_dir.chmod(0o755)  # nginx's workers (nobody) create their buffer folders here
        self.static_root.mkdir(mode=0o755, exist_ok=True)
        self._write(serving)
        with self.access_log.open("wb") as out, (self.run_dir / "error.log").open("wb") as err:
            self.process = subprocess.Popen(
                [self.nginx, "-c", str(self.config), "-e", "stderr", "-g", GLOBALS],
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited: {self.errors()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("nginx did not listen")

    def route(self, serving: set[str], timeout: float = 60) -> None:
        """Sends new requests to `serving` only, and waits until no old worker is left.

        nginx's old workers finish the requests they hold and exit: once they
        are gone, no request is on its way to a server taken out of `serving`.
        """
        self._write(serving)
        old = workers_of(self.process.pid)
        self.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            current = workers_of(self.process.pid)
            if current and not current & old:
                return
            time.sleep(0.05)
        raise RuntimeError(f"nginx's old workers did not finish in {timeout}s")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGQUIT)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def workers_cpu_seconds(self) -> float:
        """CPU time nginx's workers have used so far."""
        return sum(cpu_seconds(pid) for pid in workers_of(self.process.pid))

    def errors(self) -> str:
        path = self.run_dir / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def log_entries(self) -> list[dict]:
        lines = self.access_log.read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]


@contextmanager
def edge_before(nginx: str, app_port: int, buffering: bool = True) -> Iterator[Balancer]:
    """nginx from deploy/nginx.conf before one server on loopback; stopped afterwards.

    `buffering=False` renders `proxy_request_buffering off;` into it (`streaming`).
    """
    with tempfile.TemporaryDirectory(prefix="edge-") as tmpdir:
        address = f"127.0.0.1:{app_port}"
        edge = Balancer(nginx, Path(tmpdir), free_port(), [address],
                        edit=(lambda text: text) if buffering else streaming)  # fmt: skip
        edge.start({address})
        try:
            yield edge
        finally:
            edge.stop()
