"""Who is this client? Pure decisions on a request's metadata.

The address comes from REMOTE_ADDR unless the peer is a configured trusted
proxy; only then is X-Forwarded-For read, right to left, skipping the
proxies, so a client cannot pick its own address by sending the header.
Nothing a client sends is trusted: only what a trusted proxy appended.
"""

import ipaddress
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPV6_CLIENT_PREFIX = 64
# The address used when the peer's own address is unusable (e.g. a Unix
# socket without a proxy header): every such request shares one bucket.
UNKNOWN_CLIENT = "0.0.0.0"


def parse_networks(cidrs: tuple[str, ...] | list[str]) -> tuple[IPNetwork, ...]:
    """CIDR strings as networks; raises ValueError on a malformed one.

    Host bits are allowed (`10.0.0.1/8` means `10.0.0.0/8`): operators write both.
    """
    return tuple(ipaddress.ip_network(cidr.strip(), strict=False) for cidr in cidrs)


@lru_cache(maxsize=8)
def _networks(cidrs: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return parse_networks(cidrs)


def trusted_networks() -> tuple[IPNetwork, ...]:
    """The TRUSTED_PROXIES setting, parsed (a system check rejects bad entries)."""
    return _networks(tuple(settings.TRUSTED_PROXIES))


def parse_address(text: str) -> IPAddress | None:
    """An IP address from untrusted text, or None; IPv4-mapped IPv6 becomes IPv4.

    Ports, brackets, zone ids and anything else are refused rather than
    guessed at (X-Forwarded-For entries go through `parse_hop`, which knows ports).
    """
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def parse_hop(text: str) -> IPAddress | None:
    """One X-Forwarded-For entry as an address, or None.

    Some proxies write the client's port too: `198.51.100.1:4711`, or for
    IPv6 `[2001:db8::1]:4711` (and `[2001:db8::1]` without one). The port
    is dropped; without this every client of such a proxy would be counted
    in one bucket, the proxy's. A bare IPv6 address is never split at its
    last colon (`2001:db8::1:443` is an address), and anything else is
    refused, as by `parse_address`.
    """
    text = text.strip()
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not (rest.startswith(":") and _is_port(rest[1:]))):
            return None
        # Only IPv6 is bracketed (an IPv4-mapped one comes back as IPv4).
        return parse_address(host) if ":" in host else None
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        address = parse_address(host)
        if not _is_port(port) or not isinstance(address, ipaddress.IPv4Address):
            return None
        return address
    return parse_address(text)


def _is_port(text: str) -> bool:
    return text.isascii() and text.isdigit() and 0 < int(text) <= 65535


def _is_trusted(address: IPAddress, networks: tuple[IPNetwork, ...]) -> bool:
    return any(address in network for network in networks)


def address_in(ip: str, networks: tuple[IPNetwork, ...]) -> bool:
    """Whether the address `ip` (text, untrusted) is in one of `networks`."""
    address = parse_address(ip)
    return address is not None and _is_trusted(address, networks)


def peer_is_trusted_proxy(request: HttpRequest) -> bool:
    """Whether the request's direct peer (REMOTE_ADDR) is one of TRUSTED_PROXIES.

    Only such a peer may speak for the client: its X-Forwarded-For and
    X-Forwarded-Proto are believed, anyone else's are not.
    """
    return address_in(request.META.get("REMOTE_ADDR", ""), trusted_networks())


def resolve_client_ip(remote_addr: str, forwarded_for: str, networks: tuple[IPNetwork, ...]) -> str:
    """The client's address given the peer, its X-Forwarded-For and the trusted proxies.

    Without trusted proxies, or when the peer is not one, the peer is the
    client and the header is ignored. Behind trusted proxies, the right-most
    hop that is not itself a trusted proxy is the client: everything left of
    it was written by the client and proves nothing.
    """
    peer = parse_address(remote_addr)
    if peer is None:
        return UNKNOWN_CLIENT
    if not networks or not _is_trusted(peer, networks):
        return str(peer)
    for hop in reversed(forwarded_for.split(",")):
        address = parse_hop(hop)
        if address is None:
            # A garbled hop was not written by our proxies; stop at the last one we trust.
            break
        if not _is_trusted(address, networks):
            return str(address)
        peer = address
    return str(peer)


def client_ip(request: HttpRequest) -> str:
    """The client's address for this request (see the module docstring)."""
    return resolve_client_ip(
        request.META.get("REMOTE_ADDR", ""),
        request.META.get("HTTP_X_FORWARDED_FOR", ""),
        trusted_networks(),
    )


def client_key_for(ip: str) -> str:
    """The client an address stands for in the audit and the blocklist: `rate_limit_key`'s."""
    return rate_limit_key(ip)


def rate_limit_key(ip: str) -> str:
    """The bucket a client's address is counted in: the address, or its /64 for IPv6.

    One IPv6 subscriber usually holds a whole /64, so counting single
    addresses would let a client rotate through 2**64 buckets.
    """
    address = parse_address(ip)
    if address is None:
        return UNKNOWN_CLIENT
    if isinstance(address, ipaddress.IPv6Address):
        network = ipaddress.ip_network(f"{address}/{IPV6_CLIENT_PREFIX}", strict=False)
        return str(network)
    return str(address)
