"""Client identity: which address a request is counted under, and why it cannot be forged."""

import pytest
from django.test import RequestFactory

from inference_api.admission.clients import (
    UNKNOWN_CLIENT,
    client_ip,
    parse_address,
    parse_hop,
    parse_networks,
    rate_limit_key,
    resolve_client_ip,
)

PROXIES = parse_networks(["127.0.0.1/32", "10.0.0.0/8", "fd00::/8"])


def test_it_uses_the_peer_address_without_trusted_proxies():
    assert resolve_client_ip("203.0.113.7", "", ()) == "203.0.113.7"


def test_it_ignores_a_forged_forwarded_for_without_trusted_proxies():
    assert resolve_client_ip("203.0.113.7", "198.51.100.1", ()) == "203.0.113.7"


def test_it_ignores_forwarded_for_from_a_peer_that_is_not_a_trusted_proxy():
    assert resolve_client_ip("203.0.113.7", "198.51.100.1", PROXIES) == "203.0.113.7"


def test_it_takes_the_address_a_trusted_proxy_appended():
    assert resolve_client_ip("127.0.0.1", "198.51.100.1", PROXIES) == "198.51.100.1"


def test_it_takes_the_right_most_untrusted_hop_not_the_client_supplied_one():
    # The client sent "X-Forwarded-For: 1.2.3.4"; nginx appended its real address.
    assert resolve_client_ip("127.0.0.1", "1.2.3.4, 198.51.100.1", PROXIES) == "198.51.100.1"


def test_it_skips_a_chain_of_trusted_proxies():
    forwarded = "1.2.3.4, 198.51.100.1, 10.1.2.3, 10.9.9.9"
    assert resolve_client_ip("127.0.0.1", forwarded, PROXIES) == "198.51.100.1"


def test_it_falls_back_to_the_innermost_proxy_when_every_hop_is_trusted():
    assert resolve_client_ip("127.0.0.1", "10.0.0.5, 10.0.0.6", PROXIES) == "10.0.0.5"


def test_it_uses_the_proxy_when_the_proxy_sent_no_forwarded_for():
    assert resolve_client_ip("127.0.0.1", "", PROXIES) == "127.0.0.1"


@pytest.mark.parametrize(
    "garbage",
    [
        "not-an-ip",
        "unknown",
        "  ",
        "198.51.100.1:0",
        "198.51.100.1:65536",
        "198.51.100.1:http",
        "198.51.100.1:443:1",
        "[198.51.100.1]:443",
        "[2001:db8::1]:",
        "[2001:db8::1]443",
        "[2001:db8::1",
        "[2001:db8::1]:x",
    ],
)
def test_it_does_not_trust_a_garbled_hop_nor_anything_left_of_it(garbage):
    forwarded = f"1.2.3.4, {garbage}, 10.0.0.5"
    assert resolve_client_ip("127.0.0.1", forwarded, PROXIES) == "10.0.0.5"


def test_it_handles_ipv6_proxies_and_clients():
    assert resolve_client_ip("fd00::1", "2001:db8:1:2::9", PROXIES) == "2001:db8:1:2::9"


def test_it_treats_an_ipv4_mapped_peer_as_ipv4():
    assert resolve_client_ip("::ffff:127.0.0.1", "198.51.100.1", PROXIES) == "198.51.100.1"
    assert resolve_client_ip("::ffff:203.0.113.7", "", ()) == "203.0.113.7"


@pytest.mark.parametrize("remote_addr", ["", "garbage", "203.0.113.7:5000"])
def test_it_counts_an_unusable_peer_address_as_the_unknown_client(remote_addr):
    assert resolve_client_ip(remote_addr, "198.51.100.1", PROXIES) == UNKNOWN_CLIENT


def test_it_reads_the_request_meta_with_the_configured_proxies(settings):
    request = RequestFactory().post(
        "/api/v1/analyze/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.1"
    )
    settings.TRUSTED_PROXIES = []
    assert client_ip(request) == "127.0.0.1"
    settings.TRUSTED_PROXIES = ["127.0.0.1/32"]
    assert client_ip(request) == "198.51.100.1"


def test_it_counts_ipv6_clients_per_slash_64():
    first = rate_limit_key("2001:db8:aaaa:bbbb:1::1")
    second = rate_limit_key("2001:db8:aaaa:bbbb:ffff:ffff:ffff:ffff")
    neighbour = rate_limit_key("2001:db8:aaaa:bbbc::1")
    assert first == second == "2001:db8:aaaa:bbbb::/64"
    assert neighbour != first


def test_it_counts_ipv4_clients_per_address():
    assert rate_limit_key("198.51.100.1") == "198.51.100.1"
    assert rate_limit_key("198.51.100.2") != rate_limit_key("198.51.100.1")


def test_it_counts_an_ipv4_mapped_address_as_its_ipv4_address():
    assert rate_limit_key("::ffff:198.51.100.1") == "198.51.100.1"


def test_it_puts_an_unparseable_address_in_the_unknown_bucket():
    assert rate_limit_key("garbage") == UNKNOWN_CLIENT


def test_parse_address_refuses_what_a_proxy_would_not_write():
    assert parse_address(" 198.51.100.1 ") is not None
    assert parse_address("198.51.100.1:80") is None
    assert parse_address("") is None


def test_parse_networks_rejects_a_malformed_cidr():
    with pytest.raises(ValueError):
        parse_networks(["10.0.0.0/33"])


@pytest.mark.parametrize(
    ("hop", "client"),
    [
        ("198.51.100.1:4711", "198.51.100.1"),
        ("198.51.100.1", "198.51.100.1"),
        ("[2001:db8:1:2::9]:4711", "2001:db8:1:2::9"),
        ("[2001:db8:1:2::9]", "2001:db8:1:2::9"),
        # Bare IPv6 is never split at its last colon: this is one address.
        ("2001:db8::1:443", "2001:db8::1:443"),
        ("[::ffff:198.51.100.1]:80", "198.51.100.1"),
    ],
)
def test_it_reads_a_forwarded_for_entry_with_a_port(hop, client):
    assert resolve_client_ip("127.0.0.1", f"1.2.3.4, {hop}", PROXIES) == client


def test_two_clients_of_a_port_writing_proxy_get_two_buckets():
    first = resolve_client_ip("127.0.0.1", "198.51.100.1:5000", PROXIES)
    second = resolve_client_ip("127.0.0.1", "198.51.100.2:5000", PROXIES)
    assert rate_limit_key(first) != rate_limit_key(second) != rate_limit_key("127.0.0.1")


def test_it_skips_trusted_proxies_written_with_ports():
    assert resolve_client_ip("127.0.0.1", "198.51.100.1:1, 10.0.0.5:2", PROXIES) == "198.51.100.1"


def test_parse_hop_refuses_a_port_on_a_bare_ipv6_address():
    assert parse_hop("2001:db8::1") is not None
    assert parse_hop("[2001:db8::1]:99999") is None
