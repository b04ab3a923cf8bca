"""What the running image must answer, checked over HTTP as a client sees it.

Each check returns a line saying what it saw, or raises CheckFailed saying
what was wrong. Nothing here knows about the engine.
"""

import csv
import re
import select
import socket
import time
from pathlib import Path

import requests

API = "/api/v1/analyze/"
# Host header the container's ALLOWED_HOSTS accepts (the HEALTHCHECK sends it too).
HOST = "localhost"
OVER_CAP_BYTES = 11 * 1024 * 1024
ALLOWED_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


class CheckFailed(AssertionError):
    """One smoke check saw something other than what production needs."""


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def get(base: str, path: str) -> requests.Response:
    return requests.get(base + path, headers={"Host": HOST}, timeout=30)


def upload(base: str, name: str, data: bytes, content_type: str) -> requests.Response:
    files = {"file": (name, data, content_type)}
    return requests.post(base + API, files=files, headers={"Host": HOST}, timeout=120)


def wait_until_ready(base: str, timeout: float) -> None:
    """Polls /readyz until it answers 200 (the model loads in the master first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if get(base, "/readyz").status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(1)
    raise CheckFailed(f"/readyz did not answer 200 within {timeout:.0f} s")


def check_health_endpoints(base: str) -> str:
    for path in ("/healthz", "/readyz"):
        response = get(base, path)
        expect(response.status_code == 200, f"{path}: {response.status_code} {response.text}")
    return "/healthz and /readyz answer 200"


def check_classifies(base: str, photo: Path, label: str) -> str:
    response = upload(base, photo.name, photo.read_bytes(), "image/jpeg")
    expect(response.status_code == 200, f"{photo.name}: {response.status_code} {response.text}")
    top = response.json()["predictions"][0]
    expect(top["label"] == label, f"{photo.name}: top label {top} instead of {label!r}")
    return f"{photo.name} is classified {top['label']!r} ({top['score']:.2f})"


def check_text_is_refused(base: str) -> str:
    response = upload(base, "notes.txt", b"not an image\n", "text/plain")
    expect(response.status_code == 415, f"text file: {response.status_code} {response.text}")
    expect(
        response.headers.get("Content-Type", "").startswith("application/json"),
        f"text file: 415 not JSON: {response.headers.get('Content-Type')}",
    )
    code = response.json().get("code")
    expect(code == "unsupported_media_type", f"text file: code {code!r}")
    return "a text file is refused 415 unsupported_media_type (JSON)"


def post_raw(port: int, body_bytes: int, timeout: float = 30) -> bytes:
    """Sends a multipart POST of body_bytes with a Content-Length; returns the raw answer.

    The server may answer and hang up before the body is sent whole, so the
    answer is read as soon as it comes and a reset while sending is expected.
    """
    head = (
        f"POST {API} HTTP/1.1\r\nHost: {HOST}\r\n"
        "Content-Type: multipart/form-data; boundary=smoke\r\n"
        f"Content-Length: {body_bytes}\r\nConnection: close\r\n\r\n"
    ).encode()
    answer, pending, left = b"", head, body_bytes
    deadline = time.monotonic() + timeout
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.setblocking(False)
        while time.monotonic() < deadline:
            readable, writable, _ = select.select([sock], [sock] if pending or left else [], [], 1)
            if readable:
                chunk = sock.recv(65536)
                if not chunk:
                    return answer
                answer += chunk
            elif writable:
                if not pending:
                    pending, left = bytes(min(65536, left)), left - min(65536, left)
                try:
                    pending = pending[sock.send(pending) :]
                except (BrokenPipeError, ConnectionResetError):
                    pending, left = b"", 0
    return answer


def check_oversized_body_is_refused(port: int) -> str:
    answer = post_raw(port, OVER_CAP_BYTES)
    status_line = answer.split(b"\r\n", 1)[0].decode(errors="replace")
    expect(" 413 " in status_line + " ", f"11 MB body: {status_line or 'no answer'}")
    expect(b'"file_too_large"' in answer, f"11 MB body: 413 without the JSON code: {answer[-300:]}")
    return "an 11 MB body is refused 413 file_too_large"


def worst_allowed_image(corpus: Path) -> tuple[Path, str, int]:
    """The accepted corpus file with the most pixels: (path, declared type, pixels)."""
    with (corpus / "MANIFEST.tsv").open(newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    rows = [row for row in rows if row["expected"] == "accept"]

    def pixels(row: dict) -> int:
        match = re.search(r"Pillow [\d.]+: \w+ (\d+)x(\d+)", row["note"])
        return int(match.group(1)) * int(match.group(2)) if match else 0

    worst = max(rows, key=pixels)
    content_type = ALLOWED_TYPES[worst["real_format"].split()[0]]
    return corpus / worst["file"], content_type, pixels(worst)


def check_worst_allowed_image(base: str, corpus: Path) -> str:
    path, content_type, pixels = worst_allowed_image(corpus)
    response = upload(base, path.name, path.read_bytes(), content_type)
    expect(response.status_code == 200, f"{path.name}: {response.status_code} {response.text}")
    return f"the corpus's largest allowed image, {path.name} ({pixels / 1e6:.1f} MP), answers 200"
