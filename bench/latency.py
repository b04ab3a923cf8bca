"""Latency per image: every server in turns, with the bare forward pass beside them.

Round after round, each image goes to each server (this checkout, the
baseline, the plain FastAPI service; the order rotating per round), timed by
the client end to end (connect, upload, answer; a new connection each time,
TCP_NODELAY). After each request the bare TorchScript forward pass runs three
times in this process on the model's input for that image (the model loaded
by `analysis.model_store.load_model`, so run as the service runs it, oneDNN's
fusion included; the input by `analysis.preprocessing.preprocess`, one torch
thread as in the servers):
the first on caches the request has just evicted, the other two warm, the
model's best. The ratio is the API's median over the warm median. So every
figure of an image is taken under the same background load.

The service's answers also say what its decoder process took and its
forward pass (`timing_ms`); the rest of the client's time is HTTP,
gunicorn, Django, the checks, the tensor and the JSON.
"""

import io

from bench.harness import Case, Options, median, percentile, post_ok, rotated, timed_ms

# The promise: a 2 MP JPEG answered within 1.45x the warm bare forward pass.
RATIO_TARGET = {"2 MP JPEG": 1.45}
WARM_UP = 3


def load_model():
    from analysis.model_store import load_model as load

    return load()


def model_input(model, item: Case):
    """The model's input for `item`, from Pillow's decode here (the server's, within rounding)."""
    from PIL import Image

    from analysis.preprocessing import preprocess

    with Image.open(io.BytesIO(item.data)) as image:
        return preprocess(image.convert("RGB"), model.metadata)


def forward(model, batch) -> None:
    import torch

    with torch.inference_mode():
        model.module(batch)


def measure(urls: dict[str, str], model, items: list[Case], options: Options) -> dict:
    """Per image: each server's client-side samples and its timings, and the bare forward pass."""
    batches = {item.label: model_input(model, item) for item in items}
    names = list(urls)
    samples = {
        item.label: {"api": {n: [] for n in names}, "timing": {n: [] for n in names}}
        for item in items
    }
    bare = {item.label: {"cold": [], "warm": []} for item in items}
    top = {item.label: {} for item in items}
    for item in items:
        for name in names:
            for _ in range(WARM_UP):
                post_ok(urls[name], item)
    for round_ in range(options.rounds):
        for item in items:
            for name in rotated(names, round_):
                reply = post_ok(urls[name], item)
                answer = reply.json()
                samples[item.label]["api"][name].append(reply.elapsed_ms)
                samples[item.label]["timing"][name].append(answer.get("timing_ms"))
                top[item.label][name] = answer["predictions"][0]["label"]
                first, *warm = (
                    timed_ms(lambda i=item: forward(model, batches[i.label])) for _ in range(3)
                )
                bare[item.label]["cold"].append(first)
                bare[item.label]["warm"].extend(warm)
    return {
        item.label: _summary(item, samples[item.label], bare[item.label], top[item.label])
        for item in items
    }


def _summary(item: Case, found: dict, bare: dict, top: dict) -> dict:
    warm = median(bare["warm"])
    servers = {}
    for name, api in found["api"].items():
        timings = [t for t in found["timing"][name] if t]
        servers[name] = {
            "samples_ms": api,
            "median_ms": median(api),
            "p90_ms": percentile(api, 90),
            "ratio": median(api) / warm,
            "decode_ms": median([t["decode"] for t in timings]) if timings else None,
            "forward_ms": median([t["inference"] for t in timings]) if timings else None,
            "top_label": top[name],
        }
    return {
        "bytes": len(item.data),
        "bare_warm_ms": warm,
        "bare_cold_ms": median(bare["cold"]),
        "servers": servers,
        "target_ratio": RATIO_TARGET.get(item.label),
    }
