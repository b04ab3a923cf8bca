"""The blocklist: which addresses find_block refuses, and how blocks are made."""

import logging
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from inference_api.admission import blocklist
from inference_api.models import BlockedClient

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("network", "ip"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("203.0.113.0/24", "203.0.113.200"),
        ("2001:db8:1::/48", "2001:db8:1:ffff::1"),
        ("2001:db8::1", "2001:0db8:0000::0001"),
        ("203.0.113.0/24", "::ffff:203.0.113.9"),
    ],
)
def test_it_finds_the_block_that_covers_an_address(network, ip):
    block = BlockedClient.objects.create(network=network, reason="test")

    assert blocklist.find_block(ip) == block


@pytest.mark.parametrize(
    ("network", "ip"),
    [
        ("203.0.113.0/24", "203.0.114.1"),
        ("2001:db8:1::/48", "2001:db8:2::1"),
        ("203.0.113.0/24", "2001:db8::1"),
        ("0.0.0.0/0", "not an address"),
    ],
)
def test_it_does_not_block_an_address_outside_the_network(network, ip):
    BlockedClient.objects.create(network=network)

    assert blocklist.find_block(ip) is None


def test_an_expired_or_inactive_block_is_not_in_force():
    past = timezone.now() - timedelta(seconds=1)
    BlockedClient.objects.create(network="203.0.113.1", expires_at=past)
    BlockedClient.objects.create(network="203.0.113.2", active=False)
    future = BlockedClient.objects.create(
        network="203.0.113.3", expires_at=timezone.now() + timedelta(hours=1)
    )

    assert blocklist.find_block("203.0.113.1") is None
    assert blocklist.find_block("203.0.113.2") is None
    assert blocklist.find_block("203.0.113.3") == future


@pytest.mark.parametrize("active", [True, False])
@pytest.mark.parametrize("expires_in", [None, timedelta(hours=-1), timedelta(hours=1)])
def test_a_row_and_the_database_agree_on_what_is_in_force(active, expires_in):
    now = timezone.now()
    expires_at = None if expires_in is None else now + expires_in
    block = BlockedClient.objects.create(
        network="203.0.113.9", active=active, expires_at=expires_at
    )
    expected = active and (expires_in is None or expires_in > timedelta(0))

    assert block.in_force(now) is expected
    assert BlockedClient.objects.in_force(now).filter(pk=block.pk).exists() is expected
    assert BlockedClient.objects.not_in_force(now).filter(pk=block.pk).exists() is not expected


def test_in_force_is_defined_once_on_the_model():
    # The blocklist, its index, the autoblock bound, the admin and the console
    # all ask BlockedClient.objects.in_force(); none spells the rule again.
    app = Path(blocklist.__file__).resolve().parents[1]
    spelled = [
        str(path.relative_to(app))
        for path in app.rglob("*.py")
        if "migrations" not in path.parts
        and path.name != "models.py"
        and re.search(r"expires_at__(gt|isnull)", path.read_text())
    ]
    assert spelled == []


def test_a_saved_block_applies_at_once_though_the_list_is_cached():
    assert blocklist.find_block("198.51.100.4") is None  # the empty list is now cached

    block = BlockedClient.objects.create(network="198.51.100.0/30")
    assert blocklist.find_block("198.51.100.3") == block

    block.active = False
    block.save()
    assert blocklist.find_block("198.51.100.3") is None


def test_it_stores_networks_in_canonical_form():
    block = BlockedClient.objects.create(network=" 203.0.113.77/24 ")
    v6 = BlockedClient.objects.create(network="2001:0DB8:0:0::1")

    assert (block.network, v6.network) == ("203.0.113.0/24", "2001:db8::1/128")


@pytest.mark.parametrize("value", ["", "203.0.113.0/33", "example.com", "1.2.3.4/24/8"])
def test_it_rejects_what_is_not_an_address_or_network(value):
    with pytest.raises(ValidationError):
        BlockedClient(network=value).full_clean()


def test_blocking_a_client_blocks_its_address_or_its_ipv6_subnet():
    v4, created_v4 = blocklist.blocked_client_create(ip="198.51.100.20", reason="r")
    v6, created_v6 = blocklist.blocked_client_create(ip="2001:db8:5:6::abcd", reason="r")
    again, created_again = blocklist.blocked_client_create(ip="2001:db8:5:6::1", reason="r")

    assert (v4.network, v6.network) == ("198.51.100.20/32", "2001:db8:5:6::/64")
    assert (created_v4, created_v6, created_again) == (True, True, False)
    assert again == v6
    assert BlockedClient.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_an_unreadable_blocklist_fails_open_and_says_so(caplog):
    BlockedClient.objects.create(network="198.51.100.0/24")
    blocklist.clear_blocklist_cache()
    table = BlockedClient._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f'ALTER TABLE "{table}" RENAME TO "{table}_away"')
    try:
        with caplog.at_level(logging.ERROR, logger="inference_api.admission.blocklist"):
            found = blocklist.find_block("198.51.100.1")
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'ALTER TABLE "{table}_away" RENAME TO "{table}"')

    assert found is None
    assert "the blocklist could not be read" in caplog.text
    assert blocklist.find_block("198.51.100.1") is not None  # the failure was not cached


def blocks_of(count: int, **fields) -> list[BlockedClient]:
    """`count` client blocks written in bulk: no signal, as a restore or raw SQL would."""
    return BlockedClient.objects.bulk_create(
        BlockedClient(network=f"10.{n // 65536}.{n // 256 % 256}.{n % 256}/32", **fields)
        for n in range(count)
    )


def test_a_lookup_reads_no_database_however_many_blocks_once_the_index_is_built(
    django_assert_num_queries,
):
    blocks_of(3000)
    BlockedClient.objects.create(network="203.0.113.0/24")
    blocklist.clear_blocklist_cache()
    assert blocklist.is_blocked("203.0.113.1")  # builds the index: client blocks, ranges

    with django_assert_num_queries(0):
        found = [blocklist.is_blocked(ip) for ip in ("10.0.0.7", "10.0.11.183", "203.0.113.9")]
        missed = [blocklist.is_blocked(ip) for ip in ("10.0.11.184", "198.51.100.1")]

    assert found == [True, True, True]
    assert missed == [False, False]


def test_a_block_in_the_index_stops_at_its_expiry(monkeypatch):
    now = timezone.now()
    blocks_of(1, expires_at=now + timedelta(hours=1))
    assert blocklist.is_blocked("10.0.0.0")

    monkeypatch.setattr(timezone, "now", lambda: now + timedelta(hours=1, seconds=1))

    assert not blocklist.is_blocked("10.0.0.0")  # the cached entry says until when


def test_a_block_whose_network_is_edited_moves_in_the_index():
    block = BlockedClient.objects.create(network="198.51.100.7")
    assert blocklist.is_blocked("198.51.100.7")

    block.network = "198.51.100.8"
    block.save()

    assert not blocklist.is_blocked("198.51.100.7")
    assert blocklist.is_blocked("198.51.100.8")


def test_lifting_one_of_two_blocks_of_a_client_keeps_the_other_in_force():
    first = BlockedClient.objects.create(network="2001:db8:4:4::/64", reason="reviewer")
    BlockedClient.objects.create(network="2001:db8:4:4::/64", reason="automatic")

    first.active = False
    first.save()

    assert blocklist.find_block("2001:db8:4:4::99").reason == "automatic"
    BlockedClient.objects.filter(active=True).get().delete()
    assert blocklist.find_block("2001:db8:4:4::99") is None
