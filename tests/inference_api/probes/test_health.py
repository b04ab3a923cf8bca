"""/healthz and /readyz: liveness of the process, readiness of model, database and cache.

Each failure is real: a database the connection cannot open, a Redis port
where nothing listens, a model file that is not in storage.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from http import HTTPStatus

import pytest
from django.db import connections

from analysis.model_store import reset_model
from inference_api.testing.servers import free_port

ALL_OK = {"model": "ok", "database": "ok", "cache": "ok", "decoder": "ok"}


@pytest.fixture
def model_ready(exported_model: str) -> Iterator[str]:
    reset_model()
    yield exported_model
    reset_model()


@contextmanager
def database_unreachable() -> Iterator[None]:
    """Swaps in a `default` connection to a database that cannot be opened, then back.

    A new wrapper, not the suite's own connection: closing that one would drop
    SQLite's in-memory test database.
    """
    original = connections["default"]
    settings_dict = dict(original.settings_dict)
    if original.vendor == "sqlite":
        settings_dict["NAME"] = "/nonexistent-folder/never.sqlite3"
    else:
        settings_dict.update(HOST="127.0.0.1", PORT=str(free_port()))
    broken = type(original)(settings_dict, alias="default")
    connections["default"] = broken
    try:
        yield
    finally:
        broken.close()
        connections["default"] = original


@pytest.fixture
def dead_redis_cache(settings) -> None:
    """Both cache aliases on a Redis URL where nothing listens."""
    location = f"redis://127.0.0.1:{free_port()}/0"
    options = {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}
    backend = "django.core.cache.backends.redis.RedisCache"
    settings.CACHES = {
        alias: {"BACKEND": backend, "LOCATION": location, "OPTIONS": options, "KEY_PREFIX": alias}
        for alias in ("default", "ratelimit")
    }


def assert_not_ready(response, failed: list[str]) -> dict:
    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    body = response.json()
    assert body["code"] == "not_ready"
    assert body["failed"] == failed
    assert body["request_id"] == response["X-Request-ID"]
    for part in failed:
        assert part in body["error"]
        assert body["checks"][part] == "failed"
    return body


def test_healthz_answers_without_touching_anything(client):
    response = client.get("/healthz")
    assert response.status_code == HTTPStatus.OK
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_healthz_refuses_a_post(client):
    assert client.post("/healthz").status_code == HTTPStatus.METHOD_NOT_ALLOWED


@pytest.mark.django_db
def test_readyz_is_ok_when_model_database_and_cache_are_there(client, model_ready):
    response = client.get("/readyz")
    assert response.status_code == HTTPStatus.OK
    assert response.json() == {"status": "ready", "checks": ALL_OK}


@pytest.mark.django_db
def test_readyz_is_503_without_the_model(client, settings, exported_model):
    settings.MODEL_FILE_NAME = "not-exported.pt"
    reset_model()
    try:
        response = client.get("/readyz")
    finally:
        reset_model()
    body = assert_not_ready(response, ["model"])
    assert body["checks"]["database"] == "ok" and body["checks"]["cache"] == "ok"
    assert "not-exported" not in response.content.decode()


def test_readyz_is_503_when_the_database_is_unreachable(client, model_ready, django_db_blocker):
    with django_db_blocker.unblock(), database_unreachable():
        response = client.get("/readyz")
        health = client.get("/healthz")
    body = assert_not_ready(response, ["database"])
    assert body["checks"]["model"] == "ok" and body["checks"]["cache"] == "ok"
    assert "sqlite" not in response.content.decode().lower()
    assert health.status_code == HTTPStatus.OK


@pytest.mark.django_db
def test_readyz_is_503_when_the_cache_is_unreachable(client, model_ready, dead_redis_cache):
    response = client.get("/readyz")
    body = assert_not_ready(response, ["cache"])
    assert body["checks"]["model"] == "ok" and body["checks"]["database"] == "ok"
    assert "redis" not in response.content.decode().lower()


@pytest.mark.django_db
def test_readyz_is_ok_on_a_live_redis(client, model_ready, settings, require_redis):
    settings.CACHES = {
        alias: {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            # Database 4 is this module's own on a shared Redis.
            "LOCATION": require_redis.rsplit("/", 1)[0] + "/4",
            "KEY_PREFIX": f"health-{alias}",
        }
        for alias in ("default", "ratelimit")
    }
    response = client.get("/readyz")
    assert response.status_code == HTTPStatus.OK
    assert response.json()["checks"] == ALL_OK


@pytest.mark.django_db
def test_readyz_is_503_when_no_decoder_can_start(client, model_ready, monkeypatch):
    from inference_api.sandbox import pool

    monkeypatch.setattr(pool, "_pool", pool.DecoderPool())
    monkeypatch.setattr(pool.sys, "executable", "/bin/false")  # a decoder that exits at once
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failed"] == ["decoder"]
    pool._pool.close()
