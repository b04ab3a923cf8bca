"""The warm parent of a pool's decoders: forks a decoder per request, already warm.

Started by `pool.Zygote` as `python -m inference_api.sandbox.zygote FD`, with
the decoders' clean environment (no secret, no Django, no torch). It imports
what a decoder runs (Pillow and its three plugins, numpy, libwebp, the
walks) once; each decoder is then a fork of it, ready in a few ms, where a
fresh Python took ~0.3 s of wall clock and 0.23-0.76 CPU-s of the machine.
The forked decoder runs `child.main` and arms its kernel limits per job as
before; it holds no other decoder's socket (each is closed here after the
fork) and not this control socket.

The control socket is a SOCK_SEQPACKET pair: one JSON packet per message.
- `{"op": "fork"}` with a socket fd (SCM_RIGHTS): fork a decoder on it;
  answered `{"pid": N}` with a pidfd of it, so the server can signal and
  watch it without the race of a reused pid.
- `{"op": "wait", "pid": N}`: the decoder's exit code (as Popen's
  returncode: negative for a signal), reaped here; `null` if unknown.
At the end of the control socket (the server went away) it exits; its
decoders end on their own sockets' end.
"""

import json
import os
import signal
import socket
import sys

from . import child

MAX_MESSAGE = 4096
# Exit codes of decoders that ended before anyone asked, kept for a later "wait".
MAX_KEPT_STATUSES = 256


def main(fd: int) -> None:
    control = socket.socket(fileno=fd)
    child.warm_up()
    _send(control, {"ready": True, "pid": os.getpid()})
    statuses: dict[int, int] = {}
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(control, MAX_MESSAGE, 1)
        except OSError:
            break
        if not message:
            break  # the server is gone
        _reap(statuses)
        request = json.loads(message)
        if request.get("op") == "fork" and fds:
            pidfd, pid = _fork(fds[0], control)
            socket.send_fds(control, [json.dumps({"pid": pid}).encode()], [pidfd])
            os.close(pidfd)
        elif request.get("op") == "wait":
            for extra in fds:
                os.close(extra)
            _send(control, {"status": _wait(int(request["pid"]), statuses)})
    os._exit(0)


def _fork(fd: int, control: socket.socket) -> tuple[int, int]:
    """A decoder on socket `fd` (closed here once it has it); its pidfd and pid."""
    pid = os.fork()
    if pid == 0:
        try:
            control.close()
            child.main(fd)
        finally:
            os._exit(1)
    os.close(fd)
    return os.pidfd_open(pid), pid


def _wait(pid: int, statuses: dict[int, int]) -> int | None:
    if pid in statuses:
        return statuses.pop(pid)
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        return None
    return os.waitstatus_to_exitcode(status)


def _reap(statuses: dict[int, int]) -> None:
    """Collect every decoder that has ended (no zombies), keeping their exit codes a while."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        statuses[pid] = os.waitstatus_to_exitcode(status)
        while len(statuses) > MAX_KEPT_STATUSES:
            statuses.pop(next(iter(statuses)))


def _send(control: socket.socket, message: dict) -> None:
    control.send(json.dumps(message).encode())


if __name__ == "__main__":
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    main(int(sys.argv[1]))
