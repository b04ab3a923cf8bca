"""Several network hosts on one machine: Linux network namespaces on a private bridge.

`private_network(n)` makes a bridge on the machine with the address
10.231.<k>.1/24 and `n` namespaces, each joined to it by a veth pair and
holding 10.231.<k>.<11 + i>, where <k> is the first /24 of 10.231.0.0/16 that
no interface of the machine uses. Nothing is routed: the namespaces reach the
machine's bridge address and each other, nothing else, and nothing outside
is reached from them (no default route, forwarding untouched).

`forward(...)` relays a TCP port of the bridge address to a loopback service
(PostgreSQL and Redis listen on 127.0.0.1 only) with socat, one child per
connection. Everything made here is removed on the way out, on failure too:
the processes still running in each namespace are killed, the namespaces
deleted (which deletes their veth pairs) and the bridge deleted.

Root only; `namespaces_unavailable()` says why not, for a skip.
"""

import ipaddress
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

PRIVATE_RANGE = ipaddress.ip_network("10.231.0.0/16")
FIRST_HOST = 11
SOCAT = "/usr/bin/socat"


@dataclass(frozen=True)
class Host:
    """One namespace on the bridge: its name, its address, the machine's end of its link."""

    namespace: str
    address: str
    link: str

    def command(self, argv: list[str]) -> list[str]:
        """`argv` to run inside this host's namespace (ip netns exec execs it: same pid)."""
        return ["ip", "netns", "exec", self.namespace, *argv]

    def cut(self) -> None:
        """Takes the link down: the host is unreachable, and reaches nothing, until rejoin()."""
        _ip("link", "set", self.link, "down")

    def rejoin(self) -> None:
        _ip("link", "set", self.link, "up")


@dataclass(frozen=True)
class Network:
    """The bridge, its address on the machine, and the hosts on it."""

    bridge: str
    gateway: str
    hosts: tuple[Host, ...]


def namespaces_unavailable() -> str:
    """Why network namespaces cannot be made here ("" when they can)."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "iproute2's `ip` is not installed"
    probe = f"nsprobe-{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"`ip netns add` failed: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return ""


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


def _free_subnet() -> ipaddress.IPv4Network:
    """The first /24 of PRIVATE_RANGE that no interface here has an address in."""
    listed = subprocess.run(["ip", "-o", "-4", "addr"], capture_output=True, text=True).stdout
    used = {
        ipaddress.ip_interface(word).network
        for line in listed.splitlines()
        for word in line.split()
        if "/" in word and word[0].isdigit()
    }
    for subnet in PRIVATE_RANGE.subnets(new_prefix=24):
        if not any(subnet.overlaps(other) for other in used):
            return subnet
    raise RuntimeError(f"no free /24 left in {PRIVATE_RANGE}")


@contextmanager
def private_network(count: int) -> Iterator[Network]:
    """A bridge and `count` namespaces on it, all removed when the block ends."""
    tag = secrets.token_hex(3)  # names unique to this network, within IFNAMSIZ (15)
    subnet = _free_subnet()
    addresses = list(subnet.hosts())
    gateway = str(addresses[0])
    bridge = f"mhbr{tag}"
    made_namespaces: list[str] = []
    made_bridge = False
    try:
        _ip("link", "add", bridge, "type", "bridge")
        made_bridge = True
        _ip("addr", "add", f"{gateway}/{subnet.prefixlen}", "dev", bridge)
        _ip("link", "set", bridge, "up")
        hosts = []
        for index in range(count):
            namespace, link = f"mh{tag}-{index}", f"mhv{tag}-{index}"
            _ip("netns", "add", namespace)
            made_namespaces.append(namespace)
            address = str(addresses[FIRST_HOST - 1 + index])
            _ip("link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", namespace)
            _ip("link", "set", link, "master", bridge, "up")
            inside = ["ip", "-n", namespace]
            subprocess.run([*inside, "link", "set", "lo", "up"], check=True)
            subprocess.run(
                [*inside, "addr", "add", f"{address}/{subnet.prefixlen}", "dev", "eth0"], check=True
            )
            subprocess.run([*inside, "link", "set", "eth0", "up"], check=True)
            hosts.append(Host(namespace, address, link))
        yield Network(bridge, gateway, tuple(hosts))
    finally:
        for namespace in made_namespaces:
            _kill_everything_in(namespace)
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True)
        if made_bridge:
            subprocess.run(["ip", "link", "del", bridge], capture_output=True)


def _kill_everything_in(namespace: str) -> None:
    """SIGKILLs every process still running in `namespace`, and waits for them to go."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        listed = subprocess.run(["ip", "netns", "pids", namespace], capture_output=True, text=True)
        pids = [int(pid) for pid in listed.stdout.split()]
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.1)


def leftovers(network: Network) -> list[str]:
    """What of `network` still exists on the machine (for a test of the cleanup)."""
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    names = {line.split()[0] for line in namespaces.splitlines() if line.strip()}
    found = [h.namespace for h in network.hosts if h.namespace in names]
    links = [network.bridge, *(h.link for h in network.hosts)]
    found += [link for link in links if Path(f"/sys/class/net/{link}").exists()]
    return found


@contextmanager
def forward(listen: tuple[str, int], target: tuple[str, int], log_path: Path) -> Iterator[None]:
    """Relays TCP connections to `listen` (the bridge address) on to `target` (loopback)."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                SOCAT,
                f"TCP-LISTEN:{listen[1]},bind={listen[0]},reuseaddr,fork",
                f"TCP:{target[0]}:{target[1]}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_listening(listen, process)
        yield
    finally:
        # The whole group: socat's children relay connections still open.
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()


def _wait_listening(address: tuple[str, int], process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"socat exited at start (status {process.returncode})")
        try:
            socket.create_connection(address, 0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"socat did not listen on {address}")


@contextmanager
def forwards(gateway: str, ports: dict[int, int], log_dir: Path) -> Iterator[None]:
    """One `forward` per `bridge port: loopback port` of `ports`."""
    with ExitStack() as stack:
        for listen_port, target_port in ports.items():
            stack.enter_context(
                forward(
                    (gateway, listen_port),
                    ("127.0.0.1", target_port),
                    log_dir / f"forward-{listen_port}.log",
                )
            )
        yield
