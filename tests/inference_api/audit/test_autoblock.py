"""Automatic temporary blocks, through the real API: real bombs, real cache, real database."""

import time
from datetime import timedelta
from http import HTTPStatus

import pytest
from django.core.cache import cache
from django.utils import timezone

from inference_api.audit import autoblock
from inference_api.models import BlockedClient, FlaggedUpload
from inference_api.testing.factories import image_upload, use_tmp_quarantine
from inference_api.testing.http import ANALYZE
from inference_api.testing.images.uploads import encode, png_declaring

pytestmark = pytest.mark.django_db

OFFENDER = "198.51.100.23"
BYSTANDER = "198.51.100.24"
# Deflated zeros behind a header that declares 25,000 x 25,000 pixels.
BOMB = png_declaring(25_000, 25_000, zero_bytes=1_000_000)


@pytest.fixture(autouse=True)
def auto_blocks(settings, tmp_path):
    use_tmp_quarantine(settings, tmp_path / "quarantine")
    settings.AUTO_BLOCK_FLAGGED = 5
    settings.AUTO_BLOCK_WINDOW = 600
    settings.AUTO_BLOCK_FOR = 3600


@pytest.fixture
def clock(monkeypatch):
    """timezone.now, pinned; `clock.advance(seconds)` moves it forward."""

    class Clock:
        now = timezone.now()

        def advance(self, seconds: float) -> None:
            self.now += timedelta(seconds=seconds)

    pinned = Clock()
    monkeypatch.setattr(timezone, "now", lambda: pinned.now)
    return pinned


def send(client, payload: bytes, ip: str):
    upload = image_upload(data=payload, name="x.png")
    return client.post(ANALYZE, {"file": upload}, REMOTE_ADDR=ip)


def test_the_sixth_bomb_in_the_window_is_refused_as_blocked(client, clock):
    statuses = [send(client, BOMB, OFFENDER).status_code for _ in range(6)]

    assert statuses == [HTTPStatus.UNPROCESSABLE_ENTITY] * 5 + [HTTPStatus.FORBIDDEN]
    assert send(client, BOMB, OFFENDER).json()["code"] == "blocked"
    block = BlockedClient.objects.get()
    assert (block.network, block.reason) == (f"{OFFENDER}/32", "automatic")
    assert block.expires_at == clock.now + timedelta(hours=1)
    assert FlaggedUpload.objects.count() == 5  # the blocked ones were never read
    assert send(client, BOMB, BYSTANDER).status_code == HTTPStatus.UNPROCESSABLE_ENTITY


def test_the_automatic_block_expires(client, clock):
    for _ in range(5):
        send(client, BOMB, OFFENDER)
    assert send(client, encode("PNG"), OFFENDER).status_code == HTTPStatus.FORBIDDEN

    clock.advance(3600 - 1)
    assert send(client, encode("PNG"), OFFENDER).status_code == HTTPStatus.FORBIDDEN
    clock.advance(1)
    assert send(client, BOMB, OFFENDER).status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert BlockedClient.objects.count() == 1  # its old count does not block it again at once


def test_flagged_uploads_spread_over_windows_do_not_block(client, settings):
    # The window is the counter's lifetime in the cache (Redis in CI), which no
    # clock of ours can move: the test lets a window of two seconds pass.
    settings.AUTO_BLOCK_WINDOW = 2
    counter = autoblock.COUNTER_PREFIX + OFFENDER
    send(client, BOMB, OFFENDER)
    opened = time.monotonic()  # the window began during that request
    for _ in range(3):
        send(client, BOMB, OFFENDER)
    assert cache.get(counter) == 4  # all four in the first window
    while cache.get(counter) is not None:
        assert time.monotonic() - opened < settings.AUTO_BLOCK_WINDOW + 2, "the window never ends"
        time.sleep(0.05)

    statuses = {send(client, BOMB, OFFENDER).status_code for _ in range(4)}

    assert statuses == {HTTPStatus.UNPROCESSABLE_ENTITY}
    assert not BlockedClient.objects.exists()
    # The new window counts from zero as the first did: its fifth blocks.
    assert send(client, BOMB, OFFENDER).status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert BlockedClient.objects.get().network == f"{OFFENDER}/32"


def test_an_ipv6_client_is_counted_by_its_64(client):
    for n in range(5):
        send(client, BOMB, f"2001:db8:7:7::{n + 1}")

    assert send(client, BOMB, "2001:db8:7:7::ffff").status_code == HTTPStatus.FORBIDDEN
    assert send(client, BOMB, "2001:db8:7:8::1").status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert BlockedClient.objects.get().network == "2001:db8:7:7::/64"


@pytest.mark.parametrize("setting", ["AUTO_BLOCK_FLAGGED", "AUTO_BLOCK_WINDOW", "AUTO_BLOCK_FOR"])
def test_zero_turns_automatic_blocks_off(client, settings, setting):
    setattr(settings, setting, 0)

    statuses = {send(client, BOMB, OFFENDER).status_code for _ in range(7)}

    assert statuses == {HTTPStatus.UNPROCESSABLE_ENTITY}
    assert not BlockedClient.objects.exists()


def test_refusals_that_are_not_flagged_do_not_count(client):
    for _ in range(6):
        client.post(ANALYZE, {"note": "no file"}, REMOTE_ADDR=OFFENDER)

    assert cache.get(autoblock.COUNTER_PREFIX + OFFENDER) is None
    assert not BlockedClient.objects.exists()


def test_a_client_past_its_quarantine_cap_is_still_blocked_at_the_threshold(client, settings):
    # Two flagged rows a day are kept for this client; the five bombs all count.
    settings.QUARANTINE_MAX_FLAGGED_PER_CLIENT_PER_DAY = 2

    statuses = [send(client, BOMB, OFFENDER).status_code for _ in range(6)]

    assert statuses == [HTTPStatus.UNPROCESSABLE_ENTITY] * 5 + [HTTPStatus.FORBIDDEN]
    assert FlaggedUpload.objects.count() == 2  # the cap decided only what was kept
    assert BlockedClient.objects.get().network == f"{OFFENDER}/32"


def test_past_the_bound_no_automatic_block_is_made_and_the_alarm_rings(
    client, settings, admin_client
):
    from inference_api.operations import metrics

    settings.AUTO_BLOCK_MAX_IN_FORCE = 2
    refused_before = metrics.AUTO_BLOCKS_REFUSED._value.get()
    offenders = ["198.51.100.31", "198.51.100.32", "198.51.100.33"]
    for ip in offenders:
        for _ in range(5):
            send(client, BOMB, ip)

    blocked = sorted(BlockedClient.objects.values_list("network", flat=True))
    assert blocked == ["198.51.100.31/32", "198.51.100.32/32"]
    assert send(client, BOMB, offenders[2]).status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert metrics.AUTO_BLOCKS_REFUSED._value.get() == refused_before + 1
    assert metrics.AUTO_BLOCKS_USED_RATIO._value.get() == 1.0
    page = admin_client.get("/admin/").content.decode()
    assert "Automatic blocks are 100% full (2 of 2 in force)" in page


def test_the_console_says_nothing_while_automatic_blocks_have_room(client, admin_client):
    for _ in range(5):
        send(client, BOMB, OFFENDER)

    assert BlockedClient.objects.count() == 1
    assert "Automatic blocks are" not in admin_client.get("/admin/").content.decode()
