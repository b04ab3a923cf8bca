"""The R2 path, against an S3-compatible server reached over HTTP (moto's server mode).

export_model uploads through django-storages' S3 backend configured exactly as
for Cloudflare R2, and verify_model loads through the server's own loader.
"""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from inference_api.testing.servers import REPO, free_port, moto_server, s3_client

# moto runs as a server process, reached over HTTP.
pytestmark = [pytest.mark.live, pytest.mark.slow]

BUCKET = "models"
KEY_ID = "test-access-key"
SECRET = "test-secret-key"


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory):
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with moto_server(free_port(), log) as url:
        yield url, s3_client(url, KEY_ID, SECRET, buckets=(BUCKET, "quarantine"))


def r2_env(endpoint: str, tmp_path: Path, **extra: str) -> dict:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "R2_ENDPOINT_URL": endpoint,
        "R2_ACCESS_KEY_ID": KEY_ID,
        "R2_SECRET_ACCESS_KEY": SECRET,
        "R2_MODEL_BUCKET": BUCKET,
        "R2_QUARANTINE_BUCKET": "quarantine",
        "MODEL_CACHE_DIR": str(tmp_path / "cache"),
        **extra,
    }


def manage(env: dict, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args, "--skip-checks"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_export_uploads_to_r2_and_verify_loads_from_it(s3_endpoint, tmp_path):
    endpoint, client = s3_endpoint
    env = r2_env(endpoint, tmp_path)
    exported = manage(env, "export_model")
    assert exported.returncode == 0, exported.stderr
    digest = exported.stdout.split("SHA-256 ")[1].split()[0]
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=BUCKET)["Contents"]}
    assert keys == {"efficientnet_lite0.pt", "efficientnet_lite0.pt.sha256"}

    verified = manage({**env, "MODEL_SHA256": digest}, "verify_model")
    assert verified.returncode == 0, verified.stderr
    assert f"SHA-256 {digest}: hash verified" in verified.stdout
    assert "espresso" in verified.stdout
    assert (tmp_path / "cache" / f"{digest}.pt").exists()


def test_a_model_in_r2_with_a_wrong_pin_is_refused(s3_endpoint, tmp_path):
    endpoint, _ = s3_endpoint
    env = r2_env(endpoint, tmp_path)
    assert manage(env, "export_model", "--if-missing").returncode == 0
    refused = manage({**env, "MODEL_SHA256": "f" * 64}, "verify_model")
    assert refused.returncode != 0
    assert "model refused" in refused.stderr
    assert not list((tmp_path / "cache").glob("*.pt"))


def test_a_storage_that_never_answers_is_given_up_in_seconds(tmp_path):
    """A blackholed endpoint (it accepts connections, never answers) must not hang the loader."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        endpoint = f"http://127.0.0.1:{listener.getsockname()[1]}"
        env = r2_env(endpoint, tmp_path, MODEL_SHA256="e" * 64, R2_READ_TIMEOUT="1")
        refused = manage(env, "verify_model", timeout=60)
    assert refused.returncode != 0
    assert "model refused" in refused.stderr
