"""The R2 path, against an S3-compatible server reached over HTTP (moto's server mode).

export_model uploads through django-storages' S3 backend configured exactly as
for Cloudflare R2, and verify_model loads through the server's own loader.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
import requests
from botocore.config import Config

from tests.servers import REPO, free_port, stop

BUCKET = "models"
KEY_ID = "test-access-key"
SECRET = "test-secret-key"


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory):
    port = free_port()
    log = (tmp_path_factory.mktemp("moto") / "moto.log").open("wb")
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            requests.get(url, timeout=1)
            break
        except requests.RequestException:
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("moto server did not start") from None
            time.sleep(0.2)
    client = boto3.client(
        "s3",
        endpoint_url=url,
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
        region_name="us-east-1",
        config=Config(signature_version="s3v4"),
    )
    client.create_bucket(Bucket=BUCKET)
    client.create_bucket(Bucket="quarantine")
    yield url, client
    stop(process)


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


def manage(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args, "--skip-checks"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
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
