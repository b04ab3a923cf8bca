"""The messages between a server process and its decoder: a JSON head and a byte body.

Each message is two 4-byte big-endian lengths, the head (UTF-8 JSON) and the
body. Both sides trust the other's framing but not the body's contents: the
server reads at most `MAX_REPLY_BODY` bytes back, whatever the head says.
"""

import json
import socket
import struct
from typing import Any

PREFIX = struct.Struct(">II")
MAX_HEAD = 64 * 1024
# The largest body a decoder sends back: a model input square of RGB pixels.
MAX_REPLY_BODY = 3 * 1024 * 1024


class ChannelClosed(EOFError):
    """The other side went away (exited or was killed) mid-message."""


def send(sock: socket.socket, head: dict[str, Any], body: bytes = b"") -> None:
    encoded = json.dumps(head).encode()
    sock.sendall(PREFIX.pack(len(encoded), len(body)) + encoded)
    if body:
        sock.sendall(body)


def receive(sock: socket.socket, max_body: int) -> tuple[dict[str, Any], bytes]:
    """One message; raises ChannelClosed at end of stream or on a frame over the limits."""
    head_size, body_size = PREFIX.unpack(_exactly(sock, PREFIX.size))
    if head_size > MAX_HEAD or body_size > max_body:
        raise ChannelClosed("message over the limits")
    head = json.loads(_exactly(sock, head_size))
    return head, _exactly(sock, body_size)


def _exactly(sock: socket.socket, size: int) -> bytes:
    """`size` bytes; a blocking socket reads them straight into the bytes returned (no copy)."""
    if not size:
        return b""
    first = sock.recv(size, socket.MSG_WAITALL)
    if len(first) == size:
        return first
    if not first:
        raise ChannelClosed("end of stream")
    buffer = bytearray(size)
    buffer[: len(first)] = first
    view = memoryview(buffer)
    received = len(first)
    while received < size:
        count = sock.recv_into(view[received:], size - received)
        if count == 0:
            raise ChannelClosed("end of stream")
        received += count
    return bytes(buffer)
