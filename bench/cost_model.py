"""The decode cost model (imaging/cost.py) against measurements, for each class of image.

Run on its own (not by run_all.py): `.venv/bin/python -m bench.cost_model
[--repeats N]`; it prints the Markdown table of docs/benchmarks.md's "The
cost model against measurements". Each class of `testing/images/largest.py`
at 1000, 4000 and 8000 px a side goes through a real decoder process
(`DecoderPool`, the default ceilings) REPEATS times: the CPU the decoder
reports (median and max), the allowance its header earned, and the margin
(allowance / max). The margin must be at least 2 on an idle machine.
"""

import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SIDES = (1000, 4000, 8000)


def measure(repeats: int) -> list[dict]:
    from inference_api.imaging.limits import DecodeLimits, ModelInput
    from inference_api.sandbox.pool import DecoderPool

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")  # the limits
    from inference_api.testing.images.largest import LARGEST, build

    pool = DecoderPool(spare=0)
    rows = []
    try:
        for name in LARGEST:
            for side in SIDES:
                data = build(name, side)
                spent, allowance, image_class = [], 0.0, ""
                for _ in range(repeats):
                    prepared = pool.decode(data, DecodeLimits.from_settings(), ModelInput())
                    spent.append(prepared.cost.cpu_ms)
                    allowance, image_class = prepared.cost.allowance_ms, prepared.cost.image_class
                rows.append({"name": name, "side": side, "bytes": len(data), "class": image_class,
                             "median_ms": statistics.median(spent), "max_ms": max(spent),
                             "allowance_ms": allowance})  # fmt: skip
                print(rows[-1], file=sys.stderr, flush=True)
    finally:
        pool.close()
    return rows


def markdown(rows: list[dict]) -> str:
    lines = [
        "| image | side | class | CPU median | CPU max | allowance | margin |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        margin = row["allowance_ms"] / row["max_ms"] if row["max_ms"] else float("inf")
        lines.append(
            f"| `{row['name']}` | {row['side']} | {row['class']} "
            f"| {row['median_ms']:.0f} ms | {row['max_ms']:.0f} ms "
            f"| {row['allowance_ms']:.0f} ms | {margin:.1f}x |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    options = parser.parse_args()
    print(f"load average before: {os.getloadavg()}", file=sys.stderr)
    print(markdown(measure(options.repeats)))
    print(f"load average after: {os.getloadavg()}", file=sys.stderr)
