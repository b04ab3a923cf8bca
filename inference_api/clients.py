"""Who is this client? Pure decisions on a request's metadata.

The address comes from REMOTE_ADDR unless the peer is a configured trusted
proxy; only then is X-Forwarded-For read, right to left, skipping the
proxies, so a client cannot pick its own address by sending the header.
"""

import ipaddress
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPV6_CLIENT_PREFIX = 64


@lru_cache(maxsize=8)
def _networks(cidrs: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)


def trusted_networks() -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """The TRUSTED_PROXIES setting, parsed."""
    return _networks(tuple(settings.TRUSTED_PROXIES))


def _parse(address: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(address.strip())
    except ValueError:
        return None


def _is_trusted(address: IPAddress, networks: tuple) -> bool:
    return any(address in network for network in networks)


def resolve_client_ip(remote_addr: str, forwarded_for: str, networks: tuple) -> str:
    """The client's address given the peer, its X-Forwarded-For and the trusted proxies."""
    peer = _parse(remote_addr)
    if peer is None:
        return "0.0.0.0"
    if not networks or not _is_trusted(peer, networks):
        return str(peer)
    for hop in reversed(forwarded_for.split(",")):
        address = _parse(hop)
        if address is None:
            # A garbled hop was written by the client; what lies left of it is theirs too.
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


def rate_limit_key(ip: str) -> str:
    """The bucket a client's address is counted in: the address, or its /64 for IPv6."""
    address = _parse(ip)
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        network = ipaddress.ip_network(f"{address}/{IPV6_CLIENT_PREFIX}", strict=False)
        return str(network)
    return ip
