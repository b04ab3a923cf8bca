"""The container engine's command line, as the smoke test uses it.

Everything goes through the CLI named by $DOCKER (default `docker`), so the
engine that `image-test.sh` started (DOCKER_HOST) or the one already running
is driven exactly as an operator would drive it.
"""

import json
import os
import subprocess
import time
from pathlib import Path

CLI = os.environ.get("DOCKER", "docker")


class EngineError(RuntimeError):
    """A CLI call failed; the message carries its output."""


def cli(*args: str, timeout: float = 120, stdin: bytes | None = None) -> str:
    """Runs one CLI command and returns its stdout; raises EngineError on failure."""
    result = subprocess.run(
        [CLI, *args], input=stdin, capture_output=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        output = (result.stdout + result.stderr).decode(errors="replace")[-4000:]
        raise EngineError(f"{CLI} {' '.join(args[:3])} ... exited {result.returncode}:\n{output}")
    return result.stdout.decode(errors="replace")


def image_exists(tag: str) -> bool:
    """Whether the engine already has this image."""
    try:
        cli("image", "inspect", tag, timeout=30)
    except EngineError:
        return False
    return True


def try_pull(tag: str, timeout: float = 60) -> bool:
    """Pulls an image; False when no registry answers (as on a machine without one)."""
    try:
        cli("pull", "--quiet", tag, timeout=timeout)
    except (EngineError, subprocess.TimeoutExpired):
        return False
    return True


def image_size(tag: str) -> int:
    """The image's size in bytes, as `docker images` reports it."""
    return int(cli("image", "inspect", "--format", "{{.Size}}", tag).strip())


def inspect(container: str) -> dict:
    """`docker inspect` of one container."""
    return json.loads(cli("inspect", container))[0]


def wait_healthy(container: str, timeout: float) -> str:
    """Waits for the engine's HEALTHCHECK verdict; returns the last status seen."""
    deadline, status = time.monotonic() + timeout, "none"
    while time.monotonic() < deadline:
        state = inspect(container)["State"]
        if not state["Running"]:
            return "exited"
        status = state.get("Health", {}).get("Status", "none")
        if status in {"healthy", "unhealthy"}:
            return status
        time.sleep(1)
    return status


def process_uids(container: str) -> dict[int, int]:
    """{pid: real uid} of every process in the container, read from the machine's /proc."""
    pids = cli("top", container, "-eo", "pid").split()[1:]
    uids = {}
    for pid in pids:
        status = Path(f"/proc/{pid}/status").read_text()
        line = next(line for line in status.splitlines() if line.startswith("Uid:"))
        uids[int(pid)] = int(line.split()[1])
    return uids


def changed_paths(container: str) -> list[str]:
    """`docker diff`: every path the container changed in its own layer."""
    return [line.split(" ", 1)[1] for line in cli("diff", container).splitlines() if line]


def peak_memory(container: str) -> int:
    """The container's peak memory in bytes, from its cgroup (v2 memory.peak or v1 max usage)."""
    pid = inspect(container)["State"]["Pid"]
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controllers == "memory":
            return int(Path(f"/sys/fs/cgroup/memory{path}/memory.max_usage_in_bytes").read_text())
        if controllers == "":
            peak = Path(f"/sys/fs/cgroup{path}/memory.peak")
            if peak.exists():
                return int(peak.read_text())
    raise EngineError(f"no memory cgroup found for the container's process {pid}")
