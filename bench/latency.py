"""The API against the bare model, and where the difference goes.

For each image the API is timed end to end (the client's view: connect,
upload, answer) and the bare TorchScript forward pass is timed in this
process on the very tensor the server computes for that image, alternately,
so both see the same background load. Their ratio is the headline.

The stage breakdown runs the server's own functions in this process on the
same bytes (multipart parse, the parent's cheap checks and hash, the decode
in a decoder process, tensor, forward, audit INSERT), and the decoder's
`prepare` in this process next to its sandboxed round trip: their
difference is what the sandbox costs. What the client saw beyond the sum is
HTTP, gunicorn and Django's middleware.
"""

import threading
import time
from dataclasses import dataclass, field

from bench import common
from inference_api.testing import http as wire


@dataclass
class Case:
    """One image as sent: its bytes, declared type, and the body on the wire."""

    label: str
    data: bytes
    content_type: str
    filename: str
    width: int
    height: int
    body: bytes = field(repr=False, default=b"")

    @property
    def megapixels(self) -> float:
        return self.width * self.height / 1e6

    def __post_init__(self) -> None:
        self.body = wire.multipart(self.data, self.content_type, self.filename)


def case(label: str, data: bytes, fmt: str, size: tuple[int, int]) -> Case:
    extension = {"JPEG": "jpg", "PNG": "png"}[fmt]
    return Case(label, data, f"image/{fmt.lower()}", f"bench.{extension}", *size)


# --- the model side, in this process --------------------------------------------------------


def load_model():
    from analysis.model_store import load_model as load

    return load()


def model_input(model, item: Case):
    """The tensor the server computes for `item`: checks and decode (sandboxed), then tensor."""
    from analysis.preprocessing import to_tensor
    from inference_api.imaging.limits import ModelInput
    from inference_api.upload.checks import check_upload

    upload = check_upload(
        item.data,
        content_type=item.content_type,
        filename=item.filename,
        model_input=ModelInput.of(model.metadata),
    )
    return to_tensor(upload.square(), model.metadata)


def forward(model, batch) -> None:
    import torch

    with torch.inference_mode():
        model.module(batch)


def parent_checks(item: Case) -> None:
    """What `check_upload` does in the server process before the decoder: hash and cheap checks."""
    import hashlib

    from inference_api.upload import checks as validators

    hashlib.sha256(item.data).hexdigest()
    declared = validators.ContentTypeValidator()(item.content_type)
    real = validators.MagicBytesValidator()(item.data, declared)
    validators.FilenameExtensionValidator()(item.filename, real)
    validators.UploadSizeValidator()(item.data)


def stage_times(model, item: Case, repeats: int) -> dict[str, float]:
    """Median milliseconds of each step the server takes for `item`, run here.

    The decode is timed twice, alternately: through the decoder process
    (`sandbox.decode`, as the server runs it) and as the same `prepare` in
    this process; the difference is the sandbox's round trip.
    """
    from PIL import Image

    from analysis.preprocessing import to_tensor
    from inference_api import sandbox
    from inference_api.imaging.limits import DecodeLimits, ModelInput
    from inference_api.imaging.prepare import prepare

    metadata = model.metadata
    shape = ModelInput.of(model.metadata)
    limits = DecodeLimits.from_settings()
    prepared = sandbox.decode(item.data, limits, shape)  # starts this process's decoders
    square = Image.frombytes("RGB", (prepared.size, prepared.size), prepared.pixels)
    batch = to_tensor(square, metadata)
    steps = {
        "multipart parse": lambda: _parse(item.body),
        "parent checks + hash": lambda: parent_checks(item),
        "to tensor": lambda: to_tensor(square, metadata),
        "forward": lambda: forward(model, batch),
        "audit INSERT": _audit_insert,
    }
    result = {name: common.median(common.timed(step, repeats)) for name, step in steps.items()}
    sandboxed, in_process = [], []
    for _ in range(repeats):
        sandboxed.append(_timed_once(sandbox.decode, item.data, limits, shape))
        in_process.append(_timed_once(prepare, item.data, limits, shape))
    result["decode in the decoder process"] = common.median(sandboxed)
    result["prepare in this process"] = common.median(in_process)
    result["sandbox overhead"] = common.median(
        [outside - inside for outside, inside in zip(sandboxed, in_process, strict=True)]
    )
    return result


def _timed_once(function, *args, **kwargs) -> float:
    started = time.perf_counter()
    function(*args, **kwargs)
    return (time.perf_counter() - started) * 1000


def _parse(body: bytes) -> None:
    from inference_api.upload.multipart import parse_form

    parse_form(body, wire.BOUNDARY.encode())


def _audit_insert() -> None:
    from inference_api.audit.trail import audit
    from inference_api.context import Arrival, Outcome, RequestRecord

    arrival = Arrival(request_id="bench-stage", client_ip="127.0.0.1", path=wire.ANALYZE)
    audit(RequestRecord(arrival=arrival, outcome=Outcome("ok", 200), latency_ms=1.0))


# --- API against bare ----------------------------------------------------------------------------


def warm_up(url: str, item: Case, count: int = 4) -> None:
    for _ in range(count):
        reply = wire.post(url, item.body)
        if reply.status != 200:
            raise RuntimeError(f"warm-up of {item.label}: {reply.status} {reply.body[:200]!r}")


def api_against_bare(url: str, model, items: list[Case], repeats: int) -> list[dict]:
    """For each image, one API request then three bare forward passes, round after round.

    The images take turns (one of each per round), so that all of them see
    the same background load. The first forward pass after a request runs on
    caches the request just evicted (as the server's own forward pass does);
    the next two are warm, the model's best: the headline compares with those.
    """
    batches = {item.label: model_input(model, item) for item in items}
    samples = {item.label: {"api": [], "cold": [], "warm": [], "server": []} for item in items}
    top = {}
    for item in items:
        warm_up(url, item, count=8)
        for _ in range(3):
            forward(model, batches[item.label])
    for _ in range(repeats):
        for item in items:
            reply = wire.post(url, item.body)
            if reply.status != 200:
                raise RuntimeError(f"{item.label}: {reply.status} {reply.body[:200]!r}")
            body = reply.json()
            top[item.label] = body["predictions"][0]["label"]
            first, *rest = common.timed(lambda i=item: forward(model, batches[i.label]), 3)
            found = samples[item.label]
            found["api"].append(reply.elapsed_ms)
            found["server"].append(body["timing_ms"])
            found["cold"].append(first)
            found["warm"].extend(rest)
    return [_headline_row(item, samples[item.label], top[item.label]) for item in items]


def _headline_row(item: Case, found: dict, top_label: str) -> dict:
    api, warm, cold, server = found["api"], found["warm"], found["cold"], found["server"]
    return {
        "label": item.label,
        "bytes": len(item.data),
        "megapixels": item.megapixels,
        "api_ms": api,
        "bare_ms": warm,
        "bare_cold_ms": cold,
        "top_label": top_label,
        "api_median": common.median(api),
        "bare_median": common.median(warm),
        "bare_cold_median": common.median(cold),
        "server_forward_median": common.median([t["inference"] for t in server]),
        "server_decode_median": common.median([t["decode"] for t in server]),
        "view_median": common.median([t["total"] for t in server]),
        "ratio": common.median(api) / common.median(warm),
        "ratio_cold": common.median(api) / common.median(cold),
    }


# --- throughput -----------------------------------------------------------------------------


def api_throughput(url: str, item: Case, clients: int, seconds: float) -> dict:
    """Requests per second answered 200 with `clients` clients sending back to back."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client() -> None:
        while time.monotonic() < deadline:
            reply = wire.post(url, item.body)
            with lock:
                statuses[reply.status] = statuses.get(reply.status, 0) + 1
                if reply.status == 200:
                    latencies.append(reply.elapsed_ms)

    started = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    return {
        "clients": clients,
        "rps": len(latencies) / elapsed,
        "statuses": statuses,
        "median_ms": common.median(latencies),
        "p90_ms": common.percentile(latencies, 90),
    }


def _forward_loop(model, batch, seconds: float, counts) -> None:
    deadline = time.monotonic() + seconds
    done = 0
    while time.monotonic() < deadline:
        forward(model, batch)
        done += 1
    counts.put(done)


def bare_throughput(model, batch, processes: int, seconds: float) -> float:
    """Forward passes per second of `processes` forked copies (one torch thread each)."""
    return common.per_second(_forward_loop, (model, batch), processes, seconds)


# --- growth --------------------------------------------------------------------------------------


def latency_by_size(url: str, items: list[Case], repeats: int) -> list[dict]:
    """Median API latency and the server's own decode time for each image."""
    rows = []
    for item in items:
        warm_up(url, item, count=1)
        replies = [wire.post(url, item.body) for _ in range(repeats)]
        bad = [r for r in replies if r.status != 200]
        if bad:
            raise RuntimeError(f"{item.label}: {bad[0].status} {bad[0].body[:200]!r}")
        rows.append(
            {
                "label": item.label,
                "format": item.content_type,
                "megapixels": item.megapixels,
                "bytes": len(item.data),
                "api_median": common.median([r.elapsed_ms for r in replies]),
                "view_median": common.median([r.json()["timing_ms"]["total"] for r in replies]),
                "decode_median": common.median([r.json()["timing_ms"]["decode"] for r in replies]),
            }
        )
    return rows
