"""Who a failed admin login counts against, for django-axes (AXES_* in the settings).

A failure counts against two things: the client's address, and the pair of
that address and the username tried. Never against the username alone: then
anyone could lock a staff member out from anywhere by typing their name.
So a stranger who guesses slows only themselves; the staff member, from
their own address, is untouched.

The address is the client's as `admission.clients` resolves it (through
TRUSTED_PROXIES), and an IPv6 client is its /64, as the API buckets it: a
subscriber who rotates through the 2**64 addresses of a /64 is one client and
locked out after as many failures as one address. axes stores an address, so
the /64 is written as its first address (`2001:db8:1:2::`).

Inside ADMIN_ALLOWED_NETWORKS (when it is set) only the pair counts: those
addresses are often one office's or one VPN's NAT, where locking the address
would let one colleague's typos, or one compromised laptop, lock out every
reviewer behind it.
"""

import ipaddress

from django.conf import settings
from django.http import HttpRequest

from ..admission.clients import IPV6_CLIENT_PREFIX, address_in, client_ip, parse_networks

PAIR = ["username", "ip_address"]


def login_client_ip(request: HttpRequest) -> str:
    """The address a login attempt counts against: the client's, or its /64's first address."""
    ip = client_ip(request)
    address = ipaddress.ip_address(ip)
    if isinstance(address, ipaddress.IPv6Address):
        network = ipaddress.ip_network(f"{address}/{IPV6_CLIENT_PREFIX}", strict=False)
        return str(network.network_address)
    return ip


def lockout_parameters(request_or_attempt, credentials: dict | None = None) -> list:
    """What axes counts a failure against: [address + username, address], or only the pair
    from inside ADMIN_ALLOWED_NETWORKS. Never the username alone."""
    ip = getattr(request_or_attempt, "axes_ip_address", None) or getattr(
        request_or_attempt, "ip_address", None
    )
    if ip and in_allowed_networks(ip):
        return [PAIR]
    return [PAIR, "ip_address"]


def in_allowed_networks(ip: str) -> bool:
    """Whether `ip` is in ADMIN_ALLOWED_NETWORKS (False when the setting is empty)."""
    cidrs = settings.ADMIN_ALLOWED_NETWORKS
    return bool(cidrs) and address_in(ip, parse_networks(cidrs))
