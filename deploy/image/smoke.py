"""Builds the production image and smoke-tests it the way production runs it.

Run by deploy/image/image-test.sh (`make image-test`), which provides the
engine (DOCKER_HOST). Steps:

1. the base: PYTHON_IMAGE (python:3.11-slim) if it can be pulled, else a
   stand-in made from Debian's own packages (standin-base.sh);
2. the build, with the machine's pip configuration and CA bundle passed in as
   build secrets (pipmirror.py) and torch from the machine's pip index;
3. one-off containers for `migrate` and `export_model`, then the server:
   read-only root, no capabilities, no-new-privileges, a volume at VAR_DIR,
   host networking, the machine's PostgreSQL and Redis, one worker;
4. the checks (operations/checklist.py and the engine's own view: uid, HEALTHCHECK, diff,
   peak memory); each prints what it saw;
5. every container, volume and image made here is removed, pass or fail.

Exit status 0 when every check passed, 1 otherwise.
"""

import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import checks
import engine
import pipmirror

ROOT = Path(__file__).resolve().parents[2]
RUN_ID = f"{os.getpid()}"
APP_IMAGE = f"inference-api-smoke:{RUN_ID}"
STANDIN_IMAGE = f"inference-api-standin:{RUN_ID}"
VOLUME = f"inference-api-smoke-var-{RUN_ID}"
SERVER = f"inference-api-smoke-{RUN_ID}"
VAR_DIR = "/var/lib/app"
APP_UID = 10001
CORPUS = Path(os.environ.get("CORPUS_DIR", ROOT.parent / "shared" / "corpus" / "pillow"))
IN_CI = os.environ.get("CI") == "true"


def free_port() -> int:
    """A port nothing listens on now (never 8000, which a developer's server may hold)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def base_image(made: list[str]) -> str:
    """PYTHON_IMAGE when the engine has or can pull it, else a stand-in made here."""
    wanted = os.environ.get("PYTHON_IMAGE", "python:3.11-slim")
    if engine.image_exists(wanted):
        print(f"base: {wanted}, already in the engine")
        return wanted
    if engine.try_pull(wanted):
        made.append(wanted)
        print(f"base: {wanted}, pulled")
        return wanted
    print(f"base: {wanted} cannot be pulled; making a stand-in from Debian bookworm (Python 3.11)")
    started = time.monotonic()
    subprocess.run(
        ["bash", str(Path(__file__).with_name("standin-base.sh")), STANDIN_IMAGE], check=True
    )
    made.append(STANDIN_IMAGE)
    print(f"base: {STANDIN_IMAGE} made in {time.monotonic() - started:.0f} s")
    return STANDIN_IMAGE


def build(base: str) -> float:
    """Builds APP_IMAGE from the repository; returns the seconds it took."""
    mirror_config = pipmirror.machine_config()
    ca_bundle = pipmirror.ca_bundle()
    with pipmirror.PipMirror(mirror_config) as mirror, tempfile.TemporaryDirectory() as tmp:
        conf = Path(tmp) / "pip.conf"
        conf.write_text(mirror.config_text)
        args = ["build", "--network", "host", "--pull=false", "-t", APP_IMAGE]
        args += ["--build-arg", f"PYTHON_IMAGE={base}"]
        # Torch from the machine's own index (empty: pip's configured default).
        args += ["--build-arg", f"TORCH_INDEX_URL={mirror.index_url}"]
        args += ["--secret", f"id=pip.conf,src={conf}"]
        if ca_bundle:
            args += ["--secret", f"id=ca.crt,src={ca_bundle}"]
        print(f"build: pip locations served to the build: {[str(r) for r in mirror.roots]}")
        started = time.monotonic()
        subprocess.run([engine.CLI, *args, str(ROOT)], check=True, timeout=1800,
                       env=dict(os.environ, DOCKER_BUILDKIT="1"))
        return time.monotonic() - started


def hardened_run_args(env_file: Path) -> list[str]:
    """`docker run` flags production uses: the same for one-off and server containers."""
    args = ["--network", "host", "--read-only", "--cap-drop", "ALL"]
    args += ["--security-opt", "no-new-privileges", "-v", f"{VOLUME}:{VAR_DIR}"]
    # An env file (mode 600), not -e flags: SECRET_KEY stays off command lines.
    return args + ["--env-file", str(env_file)]


def write_env_file(folder: Path, env: dict[str, str]) -> Path:
    path = folder / "app.env"
    path.touch(mode=0o600)
    path.write_text("".join(f"{name}={value}\n" for name, value in env.items()))
    return path


def app_environment(port: int) -> dict[str, str]:
    """Production settings against the machine's PostgreSQL and Redis, over plain HTTP."""
    return {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "localhost,127.0.0.1",
        "DATABASE_URL": os.environ.get(
            "DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test?connect_timeout=3"
        ),
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        "SECURE_SSL_REDIRECT": "false",
        "WEB_CONCURRENCY": "1",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
    }


def one_off(env: Path, *command: str) -> None:
    """A management command in its own hardened, removed-after container."""
    started = time.monotonic()
    engine.cli("run", "--rm", "--name", f"{SERVER}-{command[0]}", *hardened_run_args(env),
               "--entrypoint", "python", APP_IMAGE, "manage.py", *command, timeout=600)
    print(f"ok: one-off `manage.py {' '.join(command)}` ({time.monotonic() - started:.0f} s)")


def start_server(env: Path) -> None:
    # The image's HEALTHCHECK command, probed every 2 s instead of 30 s to keep CI short.
    engine.cli("run", "-d", "--name", SERVER, "--health-interval", "2s",
               *hardened_run_args(env), APP_IMAGE)


def run_checks(port: int) -> list[str]:
    """Every check, in order; returns the failures (empty when all passed)."""
    base = f"http://127.0.0.1:{port}"
    failures = []

    def attempt(name: str, check) -> None:
        try:
            print(f"ok: {check()}")
        except (checks.CheckFailed, engine.EngineError, OSError) as exc:
            print(f"FAILED: {name}: {exc}")
            failures.append(name)

    attempt("ready", lambda: checks.wait_until_ready(base, 180) or "/readyz became 200")
    attempt("uid", lambda: check_uid())
    attempt("health endpoints", lambda: checks.check_health_endpoints(base))
    attempt("HEALTHCHECK", lambda: check_engine_health())
    photo = ROOT / "analysis" / "samples" / "espresso.jpg"
    attempt("classification", lambda: checks.check_classifies(base, photo, "espresso"))
    attempt("415", lambda: checks.check_text_is_refused(base))
    attempt("413", lambda: checks.check_oversized_body_is_refused(port))
    attempt("worst image", lambda: check_worst_image_memory(base))
    attempt("diff", lambda: check_no_writes())
    return failures


def check_uid() -> str:
    uids = engine.process_uids(SERVER)
    checks.expect(uids and set(uids.values()) == {APP_UID}, f"process uids {uids}")
    return f"every process of the container runs as uid {APP_UID} ({len(uids)} processes)"


def check_engine_health() -> str:
    status = engine.wait_healthy(SERVER, 120)
    checks.expect(status == "healthy", f"the engine's HEALTHCHECK says {status!r}")
    return "the engine's own HEALTHCHECK says healthy"


def check_worst_image_memory(base: str) -> str:
    if not (CORPUS / "MANIFEST.tsv").exists():
        checks.expect(not IN_CI, f"the corpus is missing at {CORPUS}")
        return f"SKIPPED peak memory: no corpus at {CORPUS} (set CORPUS_DIR)"
    seen = checks.check_worst_allowed_image(base, CORPUS)
    peak = engine.peak_memory(SERVER)
    return f"{seen}; container peak memory with 1 worker: {peak / 2**20:.0f} MiB"


def check_no_writes() -> str:
    changed = engine.changed_paths(SERVER)
    outside = [p for p in changed if not (p == VAR_DIR or VAR_DIR.startswith(p + "/")
                                          or p.startswith(VAR_DIR + "/"))]
    checks.expect(not outside, f"written outside {VAR_DIR}: {outside}")
    return f"docker diff shows no write outside {VAR_DIR} ({len(changed)} entries: {changed})"


def cleanup(images: list[str]) -> None:
    """Removes what this run made; each step is tried even when another fails."""
    steps = [["volume", "rm", "-f", VOLUME]] + ([["image", "rm", "-f", *images]] if images else [])
    try:
        # The server and any one-off left behind (a timeout leaves it running).
        left = engine.cli("ps", "-a", "--filter", f"name=^{SERVER}$", "--filter",
                          f"name=^{SERVER}-", "--format", "{{.Names}}")
        if left.split():
            steps.insert(0, ["rm", "-f", "-v", *left.split()])
    except engine.EngineError as exc:
        print(f"cleanup: {exc}", file=sys.stderr)
    for args in steps:
        try:
            engine.cli(*args, timeout=120)
        except engine.EngineError as exc:
            print(f"cleanup: {exc}", file=sys.stderr)


def main() -> int:
    made: list[str] = []
    scratch = tempfile.TemporaryDirectory()
    try:
        base = base_image(made)
        seconds = build(base)
        made.append(APP_IMAGE)
        size = engine.image_size(APP_IMAGE)
        print(f"build: {APP_IMAGE} built in {seconds:.0f} s; image size {size / 1e9:.2f} GB")
        engine.cli("volume", "create", VOLUME)
        port = free_port()
        env = write_env_file(Path(scratch.name), app_environment(port))
        one_off(env, "migrate", "--noinput")
        one_off(env, "export_model", "--if-missing")
        start_server(env)
        failures = run_checks(port)
        if failures:
            print(engine.cli("logs", "--tail", "80", SERVER, timeout=30))
            print(f"image-test: FAILED: {', '.join(failures)}")
            return 1
        print(f"image-test: passed; image size {size / 1e9:.2f} GB, build {seconds:.0f} s")
        return 0
    except (engine.EngineError, subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        print(f"image-test: FAILED: {exc}")
        return 1
    finally:
        cleanup(made)
        scratch.cleanup()


if __name__ == "__main__":
    sys.exit(main())
