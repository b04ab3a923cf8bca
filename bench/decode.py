"""Decode time per format: the decoder process's time, this checkout against the baseline.

Each image goes to both servers in turns, round after round; the figure is
the service's own `timing_ms.decode` (the upload's trip to a decoder
process, its structural walk, decode and reduction to the model's square,
and the way back), the median per server, and their ratio. Measured through
the servers so that each commit is timed with its own code.
"""

from bench.harness import TWO_MP, Case, Options, median, photo_case, post_ok, rotated

# The promise: the 2 MP PNG's decode at most 60% of the baseline's.
RATIO_TARGET = {"2 MP PNG": 0.60}


def cases() -> list[Case]:
    return [
        photo_case("2 MP JPEG", "JPEG", TWO_MP),
        photo_case("2 MP PNG", "PNG", TWO_MP),
        photo_case("2 MP WebP, lossless", "WEBP", TWO_MP, lossless=True),
        photo_case("2 MP WebP, lossy", "WEBP", TWO_MP, quality=90),
        photo_case("12 MP JPEG", "JPEG", (4000, 3000)),
    ]


def measure(urls: dict[str, str], options: Options) -> list[dict]:
    """Per image: each server's median decode (ms) and, with a baseline, the ratio to it."""
    items = cases()
    names = list(urls)
    decode = {(item.label, n): [] for item in items for n in names}
    for item in items:
        for name in names:
            post_ok(urls[name], item)
    for round_ in range(options.rounds):
        for item in items:
            for name in rotated(names, round_):
                answer = post_ok(urls[name], item).json()
                decode[(item.label, name)].append(answer["timing_ms"]["decode"])
    rows = []
    for item in items:
        medians = {name: median(decode[(item.label, name)]) for name in names}
        rows.append(
            {
                "label": item.label,
                "bytes": len(item.data),
                "decode_ms": medians,
                "ratio": medians["this"] / medians["baseline"] if "baseline" in medians else None,
                "target_ratio": RATIO_TARGET.get(item.label),
            }
        )
    return rows
