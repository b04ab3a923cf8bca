"""sandbox/protocol.py: whole messages over a stream socket, however the bytes arrive."""

import socket
import threading
import time

import pytest

from inference_api.sandbox import protocol

BODY = bytes(range(256)) * 4096  # 1 MiB, over the default socket buffer


def send_in_pieces(sock: socket.socket, head: dict, body: bytes, pause: float = 0.05) -> None:
    """The message as `protocol.send` frames it, written in three pieces with pauses."""
    encoded = protocol.json.dumps(head).encode()
    framed = protocol.PREFIX.pack(len(encoded), len(body)) + encoded + body
    for start in range(0, len(framed), len(framed) // 3 + 1):
        sock.sendall(framed[start : start + len(framed) // 3 + 1])
        time.sleep(pause)


@pytest.mark.parametrize("timeout", [None, 5.0], ids=["blocking", "with-a-timeout"])
def test_a_body_that_arrives_in_pieces_is_read_whole(timeout):
    ours, theirs = socket.socketpair()
    ours.settimeout(timeout)
    writer = threading.Thread(target=send_in_pieces, args=(theirs, {"ok": True}, BODY))
    writer.start()
    head, body = protocol.receive(ours, len(BODY))
    writer.join()
    assert head == {"ok": True} and body == BODY and isinstance(body, bytes)


def test_a_stream_that_ends_mid_body_is_a_closed_channel():
    ours, theirs = socket.socketpair()
    encoded = b'{"ok": true}'
    theirs.sendall(protocol.PREFIX.pack(len(encoded), 100) + encoded + bytes(40))
    theirs.close()
    with pytest.raises(protocol.ChannelClosed):
        protocol.receive(ours, 100)


def test_an_empty_body_is_read_as_empty():
    ours, theirs = socket.socketpair()
    protocol.send(theirs, {"ready": True})
    assert protocol.receive(ours, 0) == ({"ready": True}, b"")
