"""config/gunicorn.conf.py: strict environment parsing, and the model loaded before fork."""

import io
import os
import subprocess
import sys
from http import HTTPStatus
from pathlib import Path

import pytest
import requests
from PIL import Image

from inference_api.testing.servers import gunicorn_server

REPO = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).parent / "gunicorn"
CONF = REPO / "config" / "gunicorn.conf.py"


def printed_config(**env: str) -> subprocess.CompletedProcess:
    """gunicorn's view of the config file under `env` (the app is not loaded)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GUNICORN_")}
    clean.pop("WEB_CONCURRENCY", None)
    return subprocess.run(
        [str(GUNICORN), "-c", str(CONF), "--print-config", "config.wsgi:application"],
        env={**clean, **env},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


def setting(output: str, name: str) -> str:
    for line in output.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == name:
            return value.strip()
    raise AssertionError(f"{name} not printed")


@pytest.mark.slow  # gunicorn loads its whole config: 5 s on an idle machine
def test_workers_threads_and_timeouts_come_from_the_environment():
    result = printed_config(
        WEB_CONCURRENCY="3", GUNICORN_THREADS="4", GUNICORN_TIMEOUT="45", GUNICORN_KEEPALIVE="7"
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert setting(out, "workers") == "3"
    assert setting(out, "threads") == "4"
    assert setting(out, "worker_class") == "gthread"
    assert setting(out, "timeout") == "45"
    assert setting(out, "keepalive") == "7"
    assert setting(out, "limit_request_line") == "4094"
    assert setting(out, "limit_request_fields") == "50"
    assert setting(out, "preload_app") == "True"
    assert setting(out, "control_socket_disable") == "True"


@pytest.mark.slow  # gunicorn loads its whole config: 5 s on an idle machine
def test_the_defaults_are_one_sync_worker_on_loopback():
    out = printed_config().stdout
    assert setting(out, "workers") == "1"
    assert setting(out, "worker_class") == "sync"
    assert setting(out, "bind") == "['127.0.0.1:8000']"


@pytest.mark.parametrize(
    "env", [{"GUNICORN_TIMEOUT": "soon"}, {"GUNICORN_THREADS": "0"}, {"GUNICORN_PRELOAD": "maybe"}]
)
def test_a_malformed_value_stops_gunicorn(env):
    result = printed_config(**env)
    assert result.returncode != 0
    assert next(iter(env)) in result.stderr


@pytest.mark.live
@pytest.mark.slow
def test_workers_forked_from_a_preloaded_master_infer_on_several_threads(exported_model):
    png = io.BytesIO()
    Image.new("RGB", (256, 256), (90, 30, 160)).save(png, "PNG")
    env = {"TORCH_THREADS": "2", "GUNICORN_TIMEOUT": "20"}
    with gunicorn_server(env=env, workers=2) as app:
        for _ in range(4):
            response = requests.post(
                app.url + "/api/v1/analyze/",
                files={"file": ("a.png", png.getvalue(), "image/png")},
                timeout=30,
            )
            assert response.status_code == HTTPStatus.OK, response.text
        log = app.log()
    assert "loaded in the master" in log
    assert "objects frozen in the master before forking" in log
    assert "WORKER TIMEOUT" not in log
