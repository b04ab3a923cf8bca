"""Settings that the checklist relies on: secrets only from the environment, DEBUG off,
`.env` kept out of git and images, security headers on every response."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
STRONG_KEY = "k3y-" + "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOP"


def import_settings(tmp_path: Path, module: str, **env: str) -> subprocess.CompletedProcess:
    """Import a settings module in a clean interpreter and print its DEBUG.

    The config package is copied to `tmp_path`, so its BASE_DIR holds no
    developer `.env` to fill in what the environment lacks: as in an image.
    """
    shutil.copytree(REPO / "config", tmp_path / "config")
    code = f"import {module} as s; print('DEBUG=' + str(s.DEBUG))"
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path), "VAR_DIR": str(tmp_path), **env},
        capture_output=True, text=True, timeout=60,
    )


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    result = import_settings(tmp_path, "config.settings.production")
    assert result.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY must be set" in result.stderr


def test_production_refuses_an_empty_secret_key(tmp_path):
    result = import_settings(tmp_path, "config.settings.production", SECRET_KEY="")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_refuses_debug(tmp_path):
    result = import_settings(
        tmp_path, "config.settings.production", SECRET_KEY=STRONG_KEY, DEBUG="true"
    )
    assert result.returncode != 0
    assert "DEBUG must not be on" in result.stderr


def test_production_starts_with_a_secret_key_and_debug_off(tmp_path):
    result = import_settings(tmp_path, "config.settings.production", SECRET_KEY=STRONG_KEY)
    assert result.returncode == 0, result.stderr
    assert "DEBUG=False" in result.stdout


def test_debug_is_off_unless_explicitly_turned_on(tmp_path):
    assert "DEBUG=False" in import_settings(tmp_path / "a", "config.settings.base").stdout
    turned_on = import_settings(tmp_path / "b", "config.settings.base", DEBUG="true")
    assert "DEBUG=True" in turned_on.stdout


@pytest.mark.parametrize("value", ["maybe", "off", ""])
def test_a_malformed_debug_value_is_not_taken_as_on(tmp_path, value):
    result = import_settings(tmp_path, "config.settings.base", DEBUG=value)
    assert "DEBUG=True" not in result.stdout


def test_the_local_profile_refuses_to_start_without_a_secret_key(tmp_path):
    result = import_settings(tmp_path, "config.settings.local")
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_dotenv_is_ignored_by_git_and_not_tracked():
    ignored = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=REPO)
    assert ignored.returncode == 0
    tracked = subprocess.run(
        ["git", "ls-files", "--", ".env", "*/.env"], cwd=REPO, capture_output=True, text=True
    )
    assert tracked.stdout == ""


def test_dotenv_is_kept_out_of_the_docker_build_context():
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert ".env" in patterns
    assert "**/.env" in patterns
    assert not any(p.startswith("!") and ".env" in p for p in patterns)


@pytest.mark.django_db
def test_api_responses_carry_the_security_headers(client, settings):
    settings.SECURE_HSTS_SECONDS = 31536000
    response = client.post("/api/v1/analyze/", {}, secure=True)
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response["Strict-Transport-Security"].startswith("max-age=31536000")
