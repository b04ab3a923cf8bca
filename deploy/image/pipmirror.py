"""The machine's pip configuration, made usable inside a container build.

A build container sees neither the machine's pip files nor its local
folders: `file:///opt/...` indexes and `find-links` directories would be
missing in there. This module reads what `pip config list` reports (the
files pip reads and the PIP_* environment, the environment winning), serves
every local folder or file it names over HTTP on 127.0.0.1, and writes one
pip configuration file whose URLs point at that server. The build gets the
file as a BuildKit secret and runs with the host's network, so 127.0.0.1 is
the machine. No host name is written anywhere: all of it is read at run time.
"""

import functools
import http.server
import os
import shlex
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import unquote, urlsplit

# Settings whose values are lists of locations pip reads from.
LOCATION_KEYS = ("index-url", "extra-index-url", "find-links", "constraint")
# Where the Dockerfile's build step finds the CA bundle secret (id ca.crt).
CA_IN_BUILD = "/run/secrets/ca.crt"
# A client certificate is a private key: never handed to a build.
DROPPED_KEYS = {"client-cert"}


def parse_config_list(output: str) -> dict[str, str]:
    """`pip config list` lines (`global.key='value'`, `:env:.key='value'`) as {key: value}.

    Sections `global` and `install` are read; the environment (`:env:`)
    overrides them, as it does for pip itself.
    """
    files, environment = {}, {}
    for line in output.splitlines():
        name, sep, raw = line.partition("=")
        if not sep:
            continue
        section, _, key = name.rpartition(".")
        value = " ".join(shlex.split(raw))
        if section == ":env:":
            environment[key] = value
        elif section in {"global", "install"}:
            files[key] = value
    return files | environment


def machine_config() -> dict[str, str]:
    """What pip on this machine is configured with, read now (by this Python's pip)."""
    result = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"],
        capture_output=True, text=True, check=True, timeout=60,
    )
    return parse_config_list(result.stdout)


def local_path(location: str) -> Path | None:
    """The local file or folder a location names (file:// URL or absolute path), else None."""
    if location.startswith("file://"):
        return Path(unquote(urlsplit(location).path))
    if location.startswith("/"):
        return Path(location)
    return None


def served_root(path: Path, key: str) -> Path:
    """What must be served for `path` to work: an index's links climb to its parent."""
    if key in {"index-url", "extra-index-url"}:
        return path.parent
    return path


def rewrite(config: dict[str, str], base_url: str) -> tuple[dict[str, str], list[Path]]:
    """The configuration with local locations turned into URLs under base_url.

    Returns the new configuration and the files or folders the server must
    offer. A local location that does not exist is dropped, as pip ignores it.
    """
    rewritten, roots = {}, []
    for key, value in config.items():
        if key in DROPPED_KEYS:
            continue
        if key == "cert":
            rewritten[key] = CA_IN_BUILD
            continue
        if key not in LOCATION_KEYS:
            rewritten[key] = value
            continue
        locations = []
        for location in value.split():
            path = local_path(location)
            if path is None:
                locations.append(location)
            elif path.exists():
                roots.append(served_root(path, key))
                locations.append(base_url + str(path))
        if locations:
            rewritten[key] = " ".join(locations)
    return rewritten, roots


def render(config: dict[str, str]) -> str:
    """A pip configuration file with every setting in [global]."""
    lines = ["[global]"] + [f"{key} = {value}" for key, value in sorted(config.items())]
    return "\n".join(lines) + "\n"


class RootsHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the filesystem's own paths, but only under the given roots."""

    def __init__(self, *args, roots: tuple[Path, ...], **kwargs) -> None:
        self.roots = roots
        super().__init__(*args, directory="/", **kwargs)

    def translate_path(self, path: str) -> str:
        resolved = Path(super().translate_path(path)).resolve()
        if any(resolved == root or root in resolved.parents for root in self.roots):
            return str(resolved)
        return "/nonexistent"  # answered 404

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        """Quiet: a build asks for hundreds of files."""


class PipMirror:
    """A local HTTP server for the machine's pip locations, and the config that uses it.

    Use as a context manager; `config_text` is the pip.conf for the build.
    """

    def __init__(self, config: dict[str, str]) -> None:
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), None)
        base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.config, roots = rewrite(config, base_url)
        resolved = tuple(root.resolve() for root in roots)
        self.server.RequestHandlerClass = functools.partial(RootsHandler, roots=resolved)
        self.roots = resolved
        self.config_text = render(self.config)

    @property
    def index_url(self) -> str:
        """The machine's main index, or "" when pip uses its default one."""
        return self.config.get("index-url", "").split(" ")[0] if self.config else ""

    def __enter__(self) -> "PipMirror":
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def ca_bundle() -> Path | None:
    """The machine's CA bundle, where pip or Debian keep it."""
    for candidate in (os.environ.get("PIP_CERT"), "/etc/ssl/certs/ca-certificates.crt"):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None
