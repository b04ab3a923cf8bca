"""What the worker's own parsing costs at its worst, and what replacing a decoder costs (issue 20).

Run on its own (not by run_all.py): `.venv/bin/python -m bench.worker_bounds`;
it prints the Markdown of docs/benchmarks.md's "The worker's own parsing".

(a) In-process, each parser gunicorn's worker runs on its worst input,
    gunicorn's or Django's own against the bounded one that is served.
(b) Through a one-worker gunicorn: each of `testing.bodies.WORST_BODIES`,
    the answer and the worker's CPU for it (/proc, median of REPEATS).
(b') The same through nginx from deploy/nginx.conf, as shipped (buffered)
    and with `proxy_request_buffering off` (streaming), with the form of
    1-byte chunks within the edge's cap (`testing.bodies.EDGE_BODIES`):
    the worker's CPU and nginx's workers' (one run each).
(c) Replacing a decoder: a fresh Python importing what a decoder imports,
    against a fork of the pool's zygote (zygote and decoders' CPU per
    walk refusal that retires its decoder).
"""

import os
import resource
import statistics
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")

REPEATS = 3


def cpu_ms(action, repeats: int = REPEATS) -> float:
    """Median CPU time of `action()` in this process, in ms."""
    spent = []
    for _ in range(repeats):
        started = time.process_time()
        action()
        spent.append((time.process_time() - started) * 1000)
    return statistics.median(spent)


def chunked_reading(reader_class, chunks: int, size: int) -> None:
    from gunicorn.http.body import Body
    from gunicorn.http.unreader import IterUnreader

    from inference_api import errors

    class Request:
        limit_request_field_size, max_buffer_headers, trailers = 8190, 0, None

    wire = (b"%x\r\n" % size + b"x" * size + b"\r\n") * chunks + b"0\r\n\r\n"
    body = Body(reader_class(Request(), IterUnreader(_pieces(wire))))
    try:
        while body.read(1024 * 1024):
            pass
    except errors.TooManyChunks:
        pass


def _pieces(wire: bytes) -> list[bytes]:
    return [wire[i : i + 8192] for i in range(0, len(wire), 8192)]


def in_process_rows() -> list[tuple[str, str, float, float]]:
    """(parser, input, theirs ms, ours ms)."""
    from django.http.multipartparser import MultiPartParserError
    from django.utils.http import parse_header_parameters
    from gunicorn.http.body import ChunkedReader

    from config.gunicorn_http import BoundedChunkedReader
    from inference_api.upload.parameters import parse_parameters

    def ours(value):
        try:
            parse_parameters(value)
        except MultiPartParserError:
            pass

    header = 'form-data; name="' + ";" * 8100 + '"'
    made = []
    for label, chunks, size in (
        ("200,000 chunks of 1 byte (1.2 MB on the wire)", 200_000, 1),
        ("10,000 chunks of 1 KiB (10 MB)", 10_000, 1024),
    ):
        theirs = cpu_ms(partial(chunked_reading, ChunkedReader, chunks, size))
        served = cpu_ms(partial(chunked_reading, BoundedChunkedReader, chunks, size))
        made.append(("transfer decoding", label, theirs, served))
    label = "one 8 KB Content-Disposition of `;` in quotes"
    theirs = cpu_ms(partial(parse_header_parameters, header))
    made.append(("header parameters", label, theirs, cpu_ms(partial(ours, header))))
    return made


def live_rows() -> list[tuple[str, str, int, int, str, float]]:
    """(parser, body, bytes, status, code, worker CPU ms) for each worst body."""
    from inference_api.testing.bodies import WORST_BODIES
    from inference_api.testing.http import exchange
    from inference_api.testing.servers import cpu_seconds, gunicorn_server, worker_pids

    made = []
    with gunicorn_server(workers=1) as server:
        (worker,) = worker_pids(server.process.pid)
        for name, worst in WORST_BODIES.items():
            request = worst.build()
            spent, reply = [], None
            for _ in range(REPEATS):
                before = cpu_seconds(worker)
                reply = exchange(server.port, request, timeout=120)
                time.sleep(0.5)  # the audit row, written after the answer, counts too
                spent.append((cpu_seconds(worker) - before) * 1000)
            code = reply.json()["code"]
            made.append((worst.parser, name, len(request), reply.status, code,
                         statistics.median(spent)))  # fmt: skip
    return made


def edge_rows() -> list[tuple[str, str, int, str, float, float]]:
    """(mode, body, status, code, worker CPU ms, nginx CPU ms) through the edge, both modes."""
    from inference_api.testing import services
    from inference_api.testing.bodies import EDGE_BODIES
    from inference_api.testing.edge import edge_before
    from inference_api.testing.http import exchange
    from inference_api.testing.servers import cpu_seconds, gunicorn_server, worker_pids

    made = []
    with gunicorn_server(workers=1) as server:
        (worker,) = worker_pids(server.process.pid)
        for mode in ("buffered", "streaming"):
            with edge_before(services.require_nginx(), server.port, mode == "buffered") as edge:
                for name, body in EDGE_BODIES.items():
                    request = body.build()
                    before, nginx_before = cpu_seconds(worker), edge.workers_cpu_seconds()
                    reply = exchange(edge.port, request, timeout=120, paced=body.paced)
                    time.sleep(0.5)  # the audit row, written after the answer, counts too
                    spent = (cpu_seconds(worker) - before) * 1000
                    nginx_spent = (edge.workers_cpu_seconds() - nginx_before) * 1000
                    made.append((mode, name, reply.status, reply.json()["code"], spent,
                                 nginx_spent))  # fmt: skip
    return made


def fresh_interpreter_ms() -> float:
    """CPU of a fresh Python that imports and warms what a decoder runs (the old replacement)."""
    code = "from inference_api.sandbox import child; child.warm_up()"
    spent = []
    for _ in range(REPEATS):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1])
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        spent.append((after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1000)
    return statistics.median(spent)


def fork_ms(refusals: int = 50) -> float:
    """Zygote and decoders' CPU per walk refusal that retires its decoder (a fork replaces it)."""
    from inference_api.imaging.limits import DecodeLimits, ModelInput
    from inference_api.imaging.prepare import Refused
    from inference_api.sandbox.pool import DecoderPool
    from inference_api.testing.images.costly import jpeg_with_comments
    from inference_api.testing.servers import cpu_seconds, reaped_cpu_seconds

    pool = DecoderPool(spare=1)
    pool.warm()
    data = jpeg_with_comments(2_100)

    def used() -> float:
        zygote = pool.zygote_pid()
        live = sum(cpu_seconds(pid) for pid in pool.pids())
        return live + cpu_seconds(zygote) + reaped_cpu_seconds(zygote)

    try:
        for decoder in list(pool._idle):
            decoder.wait_ready()
        before = used()
        for _ in range(refusals):
            try:
                pool.decode(data, DecodeLimits.from_settings(), ModelInput())
            except Refused:
                pass
        for decoder in list(pool._idle):
            decoder.wait_ready()
        return (used() - before) * 1000 / refusals
    finally:
        pool.close()


def markdown() -> str:
    import django

    django.setup()
    lines = [
        "| parser | input | gunicorn's or Django's own | served (bounded) |",
        "| --- | --- | --- | --- |",
    ]
    for parser, label, theirs, ours in in_process_rows():
        lines.append(f"| {parser} | {label} | {theirs:.1f} ms | {ours:.1f} ms |")
    lines += ["", "| parser | worst body | bytes | answer | worker CPU |"]
    lines += ["| --- | --- | --- | --- | --- |"]
    for parser, name, size, status, code, spent in live_rows():
        lines.append(f"| {parser} | {name} | {size:,} | {status} {code} | {spent:.0f} ms |")
    lines += ["", "| through the edge | worst body | answer | worker CPU | nginx CPU |"]
    lines += ["| --- | --- | --- | --- | --- |"]
    for mode, name, status, code, spent, nginx_spent in edge_rows():
        lines.append(
            f"| {mode} | {name} | {status} {code} | {spent:.0f} ms | {nginx_spent:.0f} ms |"
        )
    fresh, fork = fresh_interpreter_ms(), fork_ms()
    lines += [
        "",
        "| replacing a retired decoder | CPU |",
        "| --- | --- |",
        f"| a fresh Python importing and warming the decoders (before) | {fresh:.0f} ms |",
        f"| a fork of the warm zygote, per walk refusal (zygote and decoder) | {fork:.1f} ms |",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(f"load average before: {os.getloadavg()}", file=sys.stderr)
    print(markdown())
    print(f"load average after: {os.getloadavg()}", file=sys.stderr)
