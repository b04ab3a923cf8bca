"""What every measure shares: the run's options, the images, the servers, the clock.

The servers are started by `inference_api.testing.servers` (the tests' own
start-up): this checkout, the baseline (another commit of the project,
checked out into a temporary git worktree and served by this interpreter)
and the plain FastAPI service of `bench/compare.py`. The wire is
`inference_api.testing.http`, shared with the tests.
"""

import os
import platform
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from inference_api.testing import http as wire  # noqa: E402
from inference_api.testing.images import photos  # noqa: E402
from inference_api.testing.servers import (  # noqa: E402
    MALLOC_TUNED,
    LiveServer,
    cpu_seconds,
    descendants,
    gunicorn_server,
)

RESULTS_DIR = REPO / "bench" / "results"
# The bench's own databases: every server gets a fresh PostgreSQL database
# named from this URL's server, and this Redis database is flushed at start.
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/5")
# What the service's servers get: the test settings, the image's malloc
# thresholds (as deployed), a rate limit no run reaches.
SERVER_ENV = {
    **MALLOC_TUNED,
    "LOG_LEVEL": "WARNING",
    "RATE_LIMIT_PER_IP": "1000000/m",
    "WEB_CONCURRENCY": "2",
}
WORKERS = 2


@dataclass(frozen=True)
class Options:
    """How much of each measure a run takes: `quick` is the smoke run."""

    quick: bool

    def pick(self, quick: float, full: float) -> float:
        return quick if self.quick else full

    @property
    def rounds(self) -> int:
        return int(self.pick(5, 30))

    @property
    def seconds(self) -> float:
        return self.pick(2.0, 8.0)


# --- the images -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One upload as sent: its label, bytes, declared type, name and multipart body."""

    label: str
    data: bytes = field(repr=False)
    content_type: str
    filename: str
    body: bytes = field(repr=False, default=b"")

    @classmethod
    def of(cls, label: str, data: bytes, content_type: str, filename: str) -> "Case":
        return cls(
            label, data, content_type, filename, wire.multipart(data, content_type, filename)
        )


TWO_MP = (1632, 1224)
# The images of the headline (the 2 MP JPEG is the promise's image).
HEADLINE = (
    ("0.3 MP JPEG", "JPEG", (640, 480)),
    ("2 MP JPEG", "JPEG", TWO_MP),
    ("12 MP JPEG", "JPEG", (4000, 3000)),
    ("2 MP PNG", "PNG", TWO_MP),
)
TYPES = {"JPEG": ("image/jpeg", "jpg"), "PNG": ("image/png", "png"), "WEBP": ("image/webp", "webp")}


def photo_case(label: str, fmt: str, size: tuple[int, int], **options) -> Case:
    """The cat photograph of `inference_api.testing.images.photos` at `size`, encoded as `fmt`."""
    content_type, extension = TYPES[fmt]
    quality = {"quality": 90} if fmt == "JPEG" and not options else options
    data = photos.encode(photos.photo(size), fmt, **quality)
    return Case.of(label, data, content_type, f"bench.{extension}")


def headline_cases() -> list[Case]:
    return [photo_case(label, fmt, size) for label, fmt, size in HEADLINE]


# --- the machine ----------------------------------------------------------------------------


def machine() -> dict:
    """CPU, cores, memory and library versions, for the report's header."""
    import django
    import PIL
    import torch

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    meminfo = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gib": round(int(meminfo["MemTotal"].split()[0]) / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        # As the bench process loaded the model: the service's TORCH_ONEDNN_FUSION.
        "onednn_fusion": torch.jit.onednn_fusion_enabled(),
        "pillow": PIL.__version__,
        "django": django.__version__,
    }


def load_average() -> tuple[float, float, float]:
    return os.getloadavg()


def machine_cpu_seconds() -> float:
    """CPU the whole machine has spent since boot, all cores together."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class OwnCpu:
    """The CPU of this process and of every process below it, sampled while the bench runs.

    A server's workers and decoders are not all reaped up to this process
    (a decoder's zygote is not waited for), so their CPU is read from /proc
    every `interval` seconds and the last figure of each process kept: a
    process that ends between two samples loses at most that interval's.
    """

    def __init__(self, interval: float = 0.5) -> None:
        self.interval = interval
        self.seen: dict[int, float] = {}
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> "OwnCpu":
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stopped.set()
        self.thread.join()

    def seconds(self) -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime + sum(self.seen.values())

    def _sample(self) -> None:
        while not self.stopped.wait(self.interval):
            for pid in descendants(os.getpid()):
                spent = cpu_seconds(pid)
                if spent:
                    self.seen[pid] = spent


def git(*args: str, cwd: Path = REPO) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), 1):
            return True
    except OSError:
        return False


# --- the servers ----------------------------------------------------------------------------


def backing_services() -> dict[str, str]:
    """The servers' environment and this process's: PostgreSQL and Redis when they run here.

    Else SQLite and the in-process cache (the report says which). PostgreSQL
    is chosen by pointing this process's DATABASE_URL at the bench's URL:
    `gunicorn_server` then makes a fresh database per server from it.
    """
    if port_open("127.0.0.1", 5432):
        os.environ["DATABASE_URL"] = DATABASE_URL
    else:
        os.environ.pop("DATABASE_URL", None)
    env = {}
    if port_open("127.0.0.1", 6379):
        import redis

        redis.Redis.from_url(REDIS_URL).flushdb()  # the bench's own database, never another
        env["REDIS_URL"] = REDIS_URL
    return env


def services_description(env: dict[str, str]) -> str:
    database = "PostgreSQL" if os.environ.get("DATABASE_URL") else "SQLite"
    cache = f"Redis db {env['REDIS_URL'].rsplit('/', 1)[1]}" if "REDIS_URL" in env else "locmem"
    return f"{database} (audit trail), {cache} (rate-limit counters)"


def export_model(checkout: Path) -> None:
    """The model file of `checkout`, exported by its own code into its var/test (if missing)."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    subprocess.run(
        [sys.executable, "manage.py", "export_model", "--if-missing", "--skip-checks"],
        cwd=checkout,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


@contextmanager
def service(checkout: Path, env: dict[str, str]) -> Iterator[LiveServer]:
    """The API of `checkout` under gunicorn as deployed: 2 sync workers, model preloaded."""
    export_model(checkout)
    with gunicorn_server(env={**SERVER_ENV, **env}, workers=WORKERS, checkout=checkout) as server:
        yield server


@contextmanager
def baseline_worktree(ref: str) -> Iterator[tuple[Path, str]]:
    """`ref` checked out into a temporary git worktree; yields its path and commit.

    Outside the repository, so that no scan of the sources (ruff, the import
    rules' tests) reads the old code; removed afterwards. It runs on this
    checkout's interpreter and packages.
    """
    commit = git("rev-parse", "--verify", f"{ref}^{{commit}}")
    parent = Path(tempfile.mkdtemp(prefix="bench-baseline-"))
    path = parent / commit[:10]
    git("worktree", "add", "--detach", str(path), commit)
    try:
        yield path, commit
    finally:
        git("worktree", "remove", "--force", str(path))
        parent.rmdir()


# --- numbers --------------------------------------------------------------------------------


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def timed_ms(function: Callable[[], object]) -> float:
    started = time.perf_counter()
    function()
    return (time.perf_counter() - started) * 1000


def post_ok(url: str, item: Case) -> wire.Reply:
    """One upload of `item`; raises unless it was answered 200."""
    reply = wire.post(url, item.body)
    if reply.status != 200:
        raise RuntimeError(f"{item.label} to {url}: {reply.status} {reply.body[:200]!r}")
    return reply


def rotated(names: list[str], round_: int) -> list[str]:
    """`names` starting at a different one each round, so no server always goes first."""
    shift = round_ % len(names)
    return names[shift:] + names[:shift]
