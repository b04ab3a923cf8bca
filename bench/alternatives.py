"""What was tried: steps of the pipeline as they were (or could be), next to how they are.

All measured in this process, on the same bytes, in the same run as the
rest of the report:

- JPEG: the checks decoded at 1/8 scale and the picture was decoded again at
  the model's scale (before) / one decode at the model's scale (now, inside
  the decoder process: `imaging.prepare.decode_picture`).
- Resize: the whole image to 256 px then the centre crop (before) / only the
  square that is kept (now).
- Garbage collection: a full collection with everything the worker imports
  and the model loaded, as is / after `gc.freeze()` (applied).
- glibc's malloc thresholds on two one-worker servers (applied).

The worst-case memory comparison that was here ("as is" against a prototype
that reduced the frame first) is history: reducing first is the pipeline now
(`imaging.pixels.reduced_rgb`), and bench/budget.py measures the decoder's
peak for the largest image of every mode.
"""

import gc
import time

from bench import common
from inference_api.testing import http as wire
from inference_api.testing.images import photos
from inference_api.testing.servers import MALLOC_TUNED, status_kb, worker_pids

REDUCING_GAP = 3


def decode_twice(data: bytes, min_side: int) -> None:
    """Before: the checks decoded at 1/8, then the picture was decoded again at the model's."""
    from inference_api.imaging.formats import JPEG
    from inference_api.imaging.limits import DecodeLimits
    from inference_api.imaging.prepare import open_image

    limits = DecodeLimits.from_settings()

    checks = open_image(data, JPEG, limits)
    checks.draft(None, (1, 1))
    checks.load()
    checks.close()
    again = open_image(data, JPEG, limits)
    again.draft(None, (min_side, min_side))
    again.load()
    again.close()


def decode_once(data: bytes, min_side: int) -> None:
    """Now: one decode at the smallest DCT scale that keeps `min_side`."""
    from inference_api.imaging.formats import JPEG
    from inference_api.imaging.limits import DecodeLimits
    from inference_api.imaging.prepare import open_image

    limits = DecodeLimits.from_settings()

    image = open_image(data, JPEG, limits)
    image.draft(None, (min_side, min_side))
    image.load()
    image.close()


def resize_whole_then_crop(image, metadata):
    from analysis.preprocessing import _RESAMPLE

    scale = metadata.resize_size / min(image.size)
    size = (round(image.width * scale), round(image.height * scale))
    resized = image.resize(size, _RESAMPLE[metadata.interpolation], reducing_gap=REDUCING_GAP)
    left, top = (
        (resized.width - metadata.input_size) // 2,
        (resized.height - metadata.input_size) // 2,
    )
    return resized.crop((left, top, left + metadata.input_size, top + metadata.input_size))


def full_gc_ms(repeats: int = 3) -> dict[str, float]:
    """A full collection's pause now, and after gc.freeze() (undone afterwards)."""
    now = common.median(common.timed(gc.collect, repeats))
    gc.freeze()
    try:
        frozen = common.median(common.timed(gc.collect, repeats))
    finally:
        gc.unfreeze()
    return {"tracked_objects": len(gc.get_objects()), "full_gc_ms": now, "frozen_gc_ms": frozen}


def pipeline_times(model, jpegs: dict, images_for_resize: dict, repeats: int) -> list[dict]:
    from analysis.preprocessing import resize_and_crop

    side = model.metadata.resize_size
    rows = []
    for label, data in jpegs.items():
        before = common.timed(lambda d=data: decode_twice(d, side), repeats)
        after = common.timed(lambda d=data: decode_once(d, side), repeats)
        rows.append(_row(f"JPEG decode, {label}", "checks at 1/8, then again", before, after))
    for label, image in images_for_resize.items():
        before = common.timed(lambda i=image: resize_whole_then_crop(i, model.metadata), repeats)
        after = common.timed(lambda i=image: resize_and_crop(i, model.metadata), repeats)
        rows.append(_row(f"resize + crop, {label}", "whole image, then crop", before, after))
    return rows


def _row(step: str, before: str, before_ms: list[float], after_ms: list[float]) -> dict:
    return {
        "step": step,
        "before": before,
        "before_ms": common.median(before_ms),
        "after_ms": common.median(after_ms),
    }


# --- glibc's malloc thresholds ----------------------------------------------------------------

MIB = 1024 * 1024


def malloc_variants(body: bytes, repeats: int) -> dict:
    """One-worker servers with glibc's malloc as is and with MALLOC_TUNED, side by side.

    Requests alternate between the two (same load for both); then each gets
    three worst-case images, and what its worker keeps afterwards is read.
    """
    from contextlib import ExitStack

    worst = wire.multipart(photos.worst_case_pngs()["RGBA"], "image/png", "worst.png")
    variants = {"as is": {}, "tuned": MALLOC_TUNED}
    with ExitStack() as stack:
        servers = {
            name: stack.enter_context(common.bench_server(workers=1, env=env))
            for name, env in variants.items()
        }
        for server in servers.values():
            for _ in range(5):
                wire.post(server.url, body)
        replies: dict[str, list] = {name: [] for name in servers}
        for _ in range(repeats):
            for name, server in servers.items():
                replies[name].append(wire.post(server.url, body))
        return {
            name: _variant_row(server, replies[name], worst) for name, server in servers.items()
        }


def _variant_row(server, replies: list, worst: bytes) -> dict:
    worker = worker_pids(server.process.pid)[0]
    idle = status_kb(worker, "VmRSS")
    for _ in range(3):
        wire.post(server.url, worst, timeout=120)
    time.sleep(0.5)
    return {
        "api_ms": common.median([r.elapsed_ms for r in replies]),
        "forward_ms": common.median([r.json()["timing_ms"]["inference"] for r in replies]),
        "idle_mib": idle / 1024,
        "after_worst_mib": status_kb(worker, "VmRSS") / 1024,
        "peak_mib": status_kb(worker, "VmHWM") / 1024,
    }
