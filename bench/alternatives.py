"""What was tried: steps of the pipeline as they were (or could be), next to how they are.

All measured in this process (memory: in a forked child per case), on the
same bytes, in the same run as the rest of the report:

- JPEG: the checks decoded at 1/8 scale and `decode_upload` decoded again at
  the model's scale (before) / one decode at the model's scale (now).
- Resize: the whole image to 256 px then the centre crop (before) / only the
  square that is kept (now).
- Garbage collection: a full collection with everything the worker imports
  and the model loaded, as is / after `gc.freeze()` (a recommendation).
- Memory of a worst-case PNG: the decode as it is / a prototype that
  box-reduces the frame before any full-size copy (a recommendation).
"""

import gc
import multiprocessing
import resource
import time

from bench import common, images

REDUCING_GAP = 3


def decode_twice(data: bytes, min_side: int) -> None:
    from inference_api.decoding import reduce_jpeg_scale
    from inference_api.validators import JPEG, open_image

    checks = open_image(data, JPEG)
    checks.draft(None, (1, 1))
    checks.load()
    again = open_image(data, JPEG)
    reduce_jpeg_scale(again, min_side)
    again.load()


def decode_once(data: bytes, min_side: int) -> None:
    from inference_api.validators import JPEG, open_image

    image = open_image(data, JPEG)
    image.draft(None, (min_side, min_side))
    image.load()


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


# --- memory of the worst case: as is, and reduced first --------------------------------------


def reduce_first(upload, min_side: int):
    """Prototype: box-reduce a frame far larger than needed before converting it.

    Valid for the modes measured here (RGB, RGBA, LA, no tRNS): a box reduce
    in Pillow works on premultiplied alpha, so compositing on white after it
    gives the same picture within rounding. Palette and tRNS images would
    have to be converted first.
    """
    from inference_api.decoding import to_rgb, upright

    frame = upload.frame
    factor = int(min(frame.size) / (min_side * REDUCING_GAP))
    info = dict(frame.info)
    small = frame.reduce(factor) if factor >= 2 else frame
    small.info.update(info)
    frame.close()
    return to_rgb(upright(small))


def _peak_child(data: bytes, variant: str, metadata, results) -> None:
    from analysis.preprocessing import preprocess
    from inference_api.decoding import decode_upload
    from inference_api.validators import check_upload

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    upload = check_upload(data, content_type="image/png", filename="worst.png")
    if variant == "as is":
        image = decode_upload(upload, min_side=metadata.resize_size)
    else:
        image = reduce_first(upload, metadata.resize_size)
    preprocess(image, metadata)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    results.put((peak, (time.perf_counter() - started) * 1000))


def worst_case_peaks(model) -> list[dict]:
    """Extra peak memory and time of one worst-case PNG, per variant, each in a fresh child."""
    context = multiprocessing.get_context("fork")
    rows = []
    for mode, data in images.worst_case_pngs().items():
        row = {"mode": mode}
        for variant in ("as is", "reduced first"):
            results = context.Queue()
            child = context.Process(
                target=_peak_child, args=(data, variant, model.metadata, results)
            )
            child.start()
            peak_kb, elapsed = results.get()
            child.join()
            row[variant] = {"peak_mib": peak_kb / 1024, "ms": elapsed}
        rows.append(row)
    return rows


# --- glibc's malloc thresholds ----------------------------------------------------------------

MIB = 1024 * 1024
# Fixed thresholds: allocations under 32 MiB come from the heap and are reused,
# and up to 128 MiB of free heap is kept instead of being returned at once.
MALLOC_TUNED = {
    "MALLOC_MMAP_THRESHOLD_": str(32 * MIB),
    "MALLOC_TRIM_THRESHOLD_": str(128 * MIB),
}


def malloc_variants(body: bytes, repeats: int) -> dict:
    """One-worker servers with glibc's malloc as is and with MALLOC_TUNED, side by side.

    Requests alternate between the two (same load for both); then each gets
    three worst-case images, and what its worker keeps afterwards is read.
    """
    from contextlib import ExitStack

    worst = common.multipart(images.worst_case_pngs()["RGBA"], "image/png", "worst.png")
    variants = {"as is": {}, "tuned": MALLOC_TUNED}
    with ExitStack() as stack:
        servers = {
            name: stack.enter_context(common.bench_server(workers=1, env=env))
            for name, env in variants.items()
        }
        for server in servers.values():
            for _ in range(5):
                common.post(server.url, body)
        replies: dict[str, list] = {name: [] for name in servers}
        for _ in range(repeats):
            for name, server in servers.items():
                replies[name].append(common.post(server.url, body))
        return {
            name: _variant_row(server, replies[name], worst) for name, server in servers.items()
        }


def _variant_row(server, replies: list, worst: bytes) -> dict:
    worker = common.worker_pids(server.process.pid)[0]
    idle = common.status_kb(worker, "VmRSS")
    for _ in range(3):
        common.post(server.url, worst, timeout=120)
    time.sleep(0.5)
    return {
        "api_ms": common.median([r.elapsed_ms for r in replies]),
        "forward_ms": common.median([r.json()["timing_ms"]["inference"] for r in replies]),
        "idle_mib": idle / 1024,
        "after_worst_mib": common.status_kb(worker, "VmRSS") / 1024,
        "peak_mib": common.status_kb(worker, "VmHWM") / 1024,
    }
