"""The edge's limits, live: who a request counts as, the admin's rate, slow clients, connections.

Debian's nginx runs deploy/nginx.conf itself (tests/e2e/test_nginx.py renders
it) in front of gunicorn; the /64 map is also run on its own, fed addresses
through a header, since this machine has no IPv6 network to send them from.
"""

import ipaddress
import random
import re
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from http import HTTPStatus
from pathlib import Path

import pytest
import requests

from inference_api.testing import services
from inference_api.testing.servers import LiveServer, free_port, gunicorn_server
from tests.e2e.test_nginx import (
    TEMPLATE,
    Edge,
    nginx_in_front,
    production_env,
    static_root,  # noqa: F401 - a fixture
    wait_for_port,
)

pytestmark = [pytest.mark.live, pytest.mark.slow]

CLIENT_ADDRESS = "127.0.0.3"


def client_key_map() -> str:
    """The `map $remote_addr $client_key` block of deploy/nginx.conf."""
    match = re.search(r"^    map \$remote_addr \$client_key \{.*?^    \}", TEMPLATE.read_text(),
                      re.S | re.M)
    assert match, "deploy/nginx.conf keys its zones through a map on $remote_addr"
    return match.group(0)


@contextmanager
def map_echo() -> Iterator[str]:
    """nginx answering each request with the key the map gives the X-Addr header's address."""
    nginx = services.require_nginx()
    with tempfile.TemporaryDirectory(prefix="map-") as tmpdir:
        run_dir = Path(tmpdir)
        run_dir.chmod(0o755)
        port = free_port()
        block = client_key_map().replace("$remote_addr", "$http_x_addr")
        (run_dir / "nginx.conf").write_text(
            f"pid {run_dir}/nginx.pid; error_log stderr warn; events {{}}\n"
            f"http {{ access_log off; client_body_temp_path {run_dir}/body;\n{block}\n"
            f"server {{ listen 127.0.0.1:{port}; location / {{ return 200 $client_key; }} }} }}\n"
        )
        process = subprocess.Popen(
            [nginx, "-c", str(run_dir / "nginx.conf"), "-e", "stderr",
             "-g", "daemon off; master_process off;"],
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for_port(port, process)
            yield f"http://127.0.0.1:{port}"
        finally:
            process.kill()
            process.wait()


def slash_64(address: ipaddress.IPv6Address) -> str:
    """What the app counts an IPv6 client as, in the map's notation: its first four groups."""
    groups = address.exploded.split(":")[:4]
    return ":".join(f"{int(group, 16):x}" for group in groups)


def sample_addresses(count: int) -> list[ipaddress.IPv6Address]:
    """IPv6 addresses with zero runs of every length at every position."""
    rng = random.Random(64)
    found = []
    for start in range(8):
        for length in range(0, 9 - start):
            for _ in range(count):
                groups = [rng.choice([rng.randrange(1, 0x10000), rng.randrange(1, 16)])
                          for _ in range(8)]
                groups[start:start + length] = [0] * length
                value = sum(g << (16 * (7 - i)) for i, g in enumerate(groups))
                found.append(ipaddress.IPv6Address(value))
    return found


def single_zero_compressed(address: ipaddress.IPv6Address) -> str:
    """The address with its first zero group written as "::" (RFC 5952 would not)."""
    groups = [f"{int(g, 16):x}" for g in address.exploded.split(":")]
    if "0" not in groups:
        return address.compressed
    i = groups.index("0")
    j = i
    while j < 8 and groups[j] == "0":
        j += 1
    return ":".join(groups[:i]) + "::" + ":".join(groups[j:])


def test_the_edge_counts_an_ipv6_client_per_slash_64_as_the_app_does():
    addresses = sample_addresses(3)
    with map_echo() as url, requests.Session() as session:
        wrong = []
        for address in addresses:
            for text in {address.compressed, single_zero_compressed(address)}:
                key = session.get(url, headers={"X-Addr": text}, timeout=5).text
                if key != slash_64(address):
                    wrong.append((text, key, slash_64(address)))
        ipv4 = session.get(url, headers={"X-Addr": "198.51.100.7"}, timeout=5).text
        mapped = session.get(url, headers={"X-Addr": "::ffff:198.51.100.7"}, timeout=5).text
    assert not wrong, wrong[:10]
    assert len(addresses) > 100
    assert ipv4 == mapped == "198.51.100.7"


def test_two_addresses_of_one_slash_64_share_a_key_and_neighbours_do_not():
    with map_echo() as url:
        keys = [
            requests.get(url, headers={"X-Addr": text}, timeout=5).text
            for text in ["2001:db8:1:2::1", "2001:db8:1:2:ffff:1:2:3", "2001:db8:1:3::1"]
        ]
    assert keys[0] == keys[1] == "2001:db8:1:2"
    assert keys[2] == "2001:db8:1:3"


@pytest.fixture(scope="module")
def edge(exported_model, static_root) -> Iterator[tuple[LiveServer, Edge]]:  # noqa: F811
    with gunicorn_server(env=production_env(), workers=2) as app:
        with nginx_in_front(app, static_root) as front:
            yield app, front


def test_the_admin_has_a_rate_of_its_own_at_the_edge(edge):
    app, front = edge
    statuses = [
        requests.get(front.url + "/admin/login/", timeout=10).status_code for _ in range(30)
    ]
    api = requests.get(front.url + "/healthz", timeout=10)
    assert HTTPStatus.TOO_MANY_REQUESTS in statuses
    # The burst reaches the app (which answers 500 here: production settings
    # without collectstatic), the rest is refused at the edge.
    assert HTTPStatus.TOO_MANY_REQUESTS not in statuses[:5]
    refused = front.entries_where(uri="/admin/login/", status=HTTPStatus.TOO_MANY_REQUESTS)
    assert refused and all(e["upstream_addr"] in {"", "-"} for e in refused)
    assert api.status_code == HTTPStatus.OK


def open_slow(port: int, head: bytes, source: str = CLIENT_ADDRESS) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30, source_address=(source, 0))
    sock.sendall(head)
    return sock


def closed_within(sock: socket.socket, seconds: float) -> float | None:
    """Seconds until the peer closed the connection, or None if it stayed open."""
    started = time.monotonic()
    sock.settimeout(seconds)
    try:
        while sock.recv(4096):
            pass
    except TimeoutError:
        return None
    except ConnectionResetError:
        pass
    return time.monotonic() - started


def test_a_client_that_stalls_its_headers_or_its_body_is_dropped_by_the_edge(edge):
    _, front = edge
    header = open_slow(front.port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    body = open_slow(
        front.port,
        b"POST /api/v1/analyze/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n"
        b"Content-Type: multipart/form-data; boundary=x\r\n\r\n--x\r\n",
    )
    with header, body:
        # client_header_timeout and client_body_timeout are 10 s.
        header_closed = closed_within(header, 20)
        body_closed = closed_within(body, 20)
    assert header_closed is not None, "a stalled header must not hold a connection"
    assert body_closed is not None, "a stalled body must not hold a connection"


def test_one_client_may_not_hold_more_than_its_connections(edge):
    app, front = edge
    head = (
        b"POST /api/v1/analyze/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n"
        b"Content-Type: multipart/form-data; boundary=x\r\n\r\n--x\r\n"
    )
    with ExitStack() as stack:
        for _ in range(20):  # limit_conn conn_per_address 20
            stack.enter_context(open_slow(front.port, head))
        time.sleep(0.5)
        same_client = _get_from(front, CLIENT_ADDRESS)
        other_client = _get_from(front, "127.0.0.4")
    assert same_client == HTTPStatus.TOO_MANY_REQUESTS
    assert other_client == HTTPStatus.OK


def _get_from(front: Edge, source: str) -> int:
    sock = socket.create_connection(("127.0.0.1", front.port), timeout=10,
                                    source_address=(source, 0))
    with sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        status_line = sock.makefile("rb").readline().decode()
    return int(status_line.split()[1])


def test_the_edge_sets_every_slow_client_timeout():
    config = TEMPLATE.read_text()
    for directive in ("client_header_timeout", "client_body_timeout", "send_timeout"):
        assert re.search(rf"^\s*{directive}\s+\d+s;", config, re.M), directive
    assert re.search(r"^\s*limit_conn conn_per_address \d+;", config, re.M)
