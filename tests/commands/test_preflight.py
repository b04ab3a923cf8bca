"""manage.py preflight: every checklist item passes on a correct production configuration,
and a wrong one is named.

In-process runs use settings overrides; the subprocess runs import the real
production settings from a real environment, as an unprivileged user (the
suite itself may run as root, which the "not root" item rightly refuses).
"""

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from inference_api.operations.checklist import CHECKLIST

REPO = Path(__file__).resolve().parents[2]
ROOT_ITEM = "running user not root"
DJANGO_ITEM = "Django's deploy checks"
ALL_TITLES = {item.title for item in CHECKLIST} | {DJANGO_ITEM}
LINE = re.compile(r"^(?P<mark>[✓✗!]) (?P<title>[^:]+): (?P<detail>.+)$")


def as_root() -> set[str]:
    """The items that fail only because this process is root."""
    return {ROOT_ITEM} if os.geteuid() == 0 else set()


def parse(output: str) -> dict[str, str]:
    """{title: mark} for every checklist line of the output."""
    found = {}
    for line in output.splitlines():
        match = LINE.match(line)
        if match:
            found[match["title"]] = match["mark"]
    return found


def failing(output: str) -> set[str]:
    return {title for title, mark in parse(output).items() if mark == "✗"}


def run_preflight(capsys) -> tuple[bool, str]:
    try:
        call_command("preflight")
        passed = True
    except CommandError:
        passed = False
    return passed, capsys.readouterr().out


@pytest.fixture
def production(settings, tmp_path):
    """A correct production configuration, as overrides of the test settings."""
    settings.DEBUG = False
    settings.SECRET_KEY = secrets.token_urlsafe(50)
    settings.ALLOWED_HOSTS = ["api.example.com"]
    settings.MODEL_SHA256 = "c0ffee" * 10 + "c0ff"
    settings.WEB_CONCURRENCY = 4
    redis = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://h/3"}
    settings.CACHES = {"default": redis, "ratelimit": redis}
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.com"]
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    settings.STATIC_ROOT = str(tmp_path / "static")
    settings.STORAGES = {
        **settings.STORAGES,
        "default": _local(tmp_path / "media"),
        "quarantine": _local(tmp_path / "quarantine"),
    }
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = True
    settings.SESSION_COOKIE_SECURE = True
    settings.CSRF_COOKIE_SECURE = True
    return settings


def _local(path: Path) -> dict:
    return {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(path), "base_url": None},
    }


def test_it_prints_one_line_per_item_and_passes_a_correct_configuration(production, capsys):
    passed, output = run_preflight(capsys)
    assert set(parse(output)) == ALL_TITLES
    assert failing(output) == as_root()
    assert passed == (not as_root())


def test_it_warns_without_failing_when_staff_log_in_without_a_second_factor(
    production, capsys
):
    production.ADMIN_REQUIRE_2FA = False
    passed, output = run_preflight(capsys)
    assert parse(output)["admin two-factor login"] == "!"
    assert passed == (not as_root())
    production.ADMIN_REQUIRE_2FA = True
    _, output = run_preflight(capsys)
    assert parse(output)["admin two-factor login"] == "✓"


def test_it_never_prints_a_secret(production, capsys):
    production.R2_SECRET_ACCESS_KEY = "r2-secret-value-123"
    _, output = run_preflight(capsys)
    assert production.SECRET_KEY not in output
    assert "r2-secret-value-123" not in output


WRONG_CONFIGURATIONS = {
    "svg allowed": (
        {"ALLOWED_CONTENT_TYPES": ("image/jpeg", "image/svg+xml")}, {"content-type allowlist"},
    ),
    "no byte cap": ({"MAX_UPLOAD_BYTES": 0}, {"upload size and dimension caps"}),
    "pixel cap at Pillow's": (
        {"MAX_IMAGE_PIXELS": 89_478_485}, {"pixel cap below Pillow's default"},
    ),
    "locmem with 4 workers": (
        {"CACHES": {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
                    "ratelimit": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}},
        {"shared rate-limit cache"},
    ),
    "trust everyone": ({"TRUSTED_PROXIES": ["0.0.0.0/0"]}, {"trusted proxies"}),
    # django-cors-headers' own check (a security check) refuses it too.
    "CORS wildcard": ({"CORS_ALLOWED_ORIGINS": ["*"]}, {"CORS origins", DJANGO_ITEM}),
    "DEBUG on": ({"DEBUG": True}, {"DEBUG off", DJANGO_ITEM}),
    "no error handler": (
        {"REST_FRAMEWORK": {"EXCEPTION_HANDLER": "rest_framework.views.exception_handler"}},
        {"JSON error handler"},
    ),
    "example secret": ({"SECRET_KEY": "change-me"}, {"secrets from the environment", DJANGO_ITEM}),
    "hash not pinned": ({"MODEL_SHA256": ""}, {"model hash pinned"}),
    "no HSTS": ({"SECURE_HSTS_SECONDS": 0}, {DJANGO_ITEM}),
    "decode wall clock under its CPU": (
        {"DECODE_CPU_SECONDS": 5.0, "DECODE_WALL_SECONDS": 2.0}, {"decode budget"},
    ),
    "decode memory too small": ({"DECODE_MEMORY_BYTES": 64 * 1024 * 1024}, {"decode budget"}),
    "gunicorn published alone": (
        {"GUNICORN_BIND": "0.0.0.0:8000", "TRUSTED_PROXIES": []}, {"gunicorn behind the proxy"},
    ),
    "no login lockout": (
        {"AUTHENTICATION_BACKENDS": ["django.contrib.auth.backends.ModelBackend"]},
        # django-axes' own check (a security check) refuses it too.
        {"admin login lockout", DJANGO_ITEM},
    ),
    "admin networks malformed": ({"ADMIN_ALLOWED_NETWORKS": ["10.0.0.0/33"]}, {"admin networks"}),
    "inline script allowed": (
        {"CONTENT_SECURITY_POLICY": {"DIRECTIVES": {"script-src": ["'self'", "'unsafe-inline'"]}}},
        {"Content-Security-Policy"},
    ),
}


@pytest.mark.parametrize("case", WRONG_CONFIGURATIONS, ids=list(WRONG_CONFIGURATIONS))
def test_it_fails_and_names_the_item_of_a_wrong_configuration(production, capsys, case):
    overrides, expected = WRONG_CONFIGURATIONS[case]
    for name, value in overrides.items():
        setattr(production, name, value)
    passed, output = run_preflight(capsys)
    assert not passed
    assert failing(output) == expected | as_root()


def test_it_fails_on_a_quarantine_inside_the_static_folder(production, capsys, tmp_path):
    production.STORAGES = {**production.STORAGES, "quarantine": _local(tmp_path / "static" / "q")}
    passed, output = run_preflight(capsys)
    assert not passed
    assert failing(output) == {"quarantine storage private"} | as_root()


# --- the real production settings, in a subprocess ------------------------------------


def unprivileged() -> list[str]:
    """A command prefix that drops root: uid/gid 65534, allowed only to read files.

    /root (where the interpreter lives) is not traversable by others, so the
    dropped process keeps CAP_DAC_READ_SEARCH, which grants reading and nothing else.
    """
    if os.geteuid() != 0:
        return []
    return [
        "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
        "--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search",
    ]


def production_env(tmp_path: Path, **overrides: str) -> dict:
    """A complete, correct production environment (and nothing from ours)."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "HOME": str(tmp_path),
        "PYTHONDONTWRITEBYTECODE": "1",
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DEBUG": "false",
        "ALLOWED_HOSTS": "api.example.com",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "REDIS_URL": "redis://127.0.0.1:6379/3",
        "MODEL_SHA256": "ab" * 32,
        "WEB_CONCURRENCY": "4",
        "CORS_ALLOWED_ORIGINS": "https://app.example.com",
        "TRUSTED_PROXIES": "10.0.0.0/8",
        "ADMIN_REQUIRE_2FA": "true",
        "VAR_DIR": str(tmp_path / "var"),
    }
    env.update(overrides)
    return env


def manage(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*unprivileged(), sys.executable, "manage.py", *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )


@pytest.mark.slow
def test_preflight_passes_under_the_production_settings(tmp_path):
    result = manage(production_env(tmp_path), "preflight")
    assert result.returncode == 0, result.stdout + result.stderr
    assert set(parse(result.stdout)) == ALL_TITLES
    assert failing(result.stdout) == set()


@pytest.mark.slow
def test_check_deploy_is_clean_under_the_production_settings(tmp_path):
    result = manage(production_env(tmp_path), "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.slow
def test_preflight_refuses_gunicorn_published_without_a_proxy(tmp_path):
    env = production_env(tmp_path, GUNICORN_BIND="0.0.0.0:8000", TRUSTED_PROXIES="")
    result = manage(env, "preflight")
    assert result.returncode == 1
    assert failing(result.stdout) == {"gunicorn behind the proxy"}
    published = production_env(tmp_path, GUNICORN_BIND="0.0.0.0:8000")
    assert manage(published, "preflight").returncode == 0


@pytest.mark.slow
def test_preflight_names_what_is_wrong_in_a_real_environment(tmp_path):
    env = production_env(tmp_path, REDIS_URL="", CORS_ALLOWED_ORIGINS="*", MODEL_SHA256="")
    result = manage(env, "preflight")
    assert result.returncode == 1
    assert failing(result.stdout) == {
        "shared rate-limit cache", "CORS origins", "model hash pinned", DJANGO_ITEM,
    }
    assert "corsheaders.E013" in result.stdout
    assert "4 item(s) failed" in result.stderr
