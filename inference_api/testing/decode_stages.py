"""Where a decode's CPU goes, stage by stage, in this process (for the benchmarks).

`stage_times` runs each stage of `imaging.prepare.prepare` on its own, on
the same bytes, `repeats` times, and returns the median process CPU time of
each (time.process_time: the machine's other load does not count, only
what it does to caches). Stages are cumulative where they cannot be split:
"decode to the picture" includes the inflate for a PNG. It is the
in-process cost; the decoder process adds its socket round trip and limits.
"""

import statistics
import time
from collections.abc import Callable
from functools import partial

from ..imaging import inflate, prepare
from ..imaging.formats import PNG, sniff_format
from ..imaging.limits import DecodeLimits, ModelInput
from ..imaging.prepare import resize_and_crop


def stage_times(
    data: bytes, repeats: int = 30, model_input: ModelInput | None = None
) -> dict[str, float]:
    """Median CPU ms of each stage of preparing `data` (an accepted JPEG, PNG or WebP)."""
    limits, model_input = DecodeLimits.from_settings(), model_input or ModelInput()
    image_format = sniff_format(data) or ""
    structure = prepare.inspect_structure(data, image_format, limits)
    side = model_input.resize_size

    def decode() -> None:
        with prepare.decoded(data, image_format, limits, side, structure) as picture:
            picture.load()

    picture = prepare.decode_picture(data, image_format, limits, side, structure)
    stages: dict[str, Callable[[], object]] = {
        "walk": lambda: prepare.inspect_structure(data, image_format, limits),
    }
    if image_format == PNG:
        inflated = partial(inflate.stored_png, data, structure, limits)
        stages["inflate (ISA-L, to stored blocks)"] = inflated
    stages["decode to the picture"] = decode
    stages["resize and crop"] = lambda: resize_and_crop(picture, model_input)
    stages["prepare (all of it)"] = lambda: prepare.prepare(data, limits, model_input)
    return {name: median_cpu_ms(stage, repeats) for name, stage in stages.items()}


def median_cpu_ms(function: Callable[[], object], repeats: int) -> float:
    """The median process CPU time of `function()` over `repeats` calls, in ms."""
    spent = []
    for _ in range(repeats):
        started = time.process_time()
        function()
        spent.append(time.process_time() - started)
    return statistics.median(spent) * 1000
