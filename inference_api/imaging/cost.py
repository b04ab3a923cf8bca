"""The decode budget one upload gets: what its header declares, priced per megapixel.

The decoder arms a small `BASE_CPU_SECONDS` for the walk of the file's
structure, before anything is known of it. Once the walk has read the
header (format, size, mode, bit depth, progressive scans), the job's CPU
allowance becomes

    BASE_CPU_SECONDS + MARGIN x (PER_MEGAPIXEL_MS[class] x megapixels
                                 + PER_MEGABYTE_MS[family] x megabytes of the file)

never more than `DecodeLimits.cpu_seconds` (DECODE_CPU_SECONDS, the ceiling
for any upload), and its wall clock WALL_PER_CPU times that (at least
WALL_FLOOR_SECONDS, at most DECODE_WALL_SECONDS). So a tiny image that
declares little cannot burn a second, and the largest legitimate PNG gets
what it needs with three times its measured cost as room. The per-megapixel
figures are the dearest of four fresh-process decodes of each 8000x8000
image of `testing/images/largest.py`, on a loaded 2-core machine (load
average 4-5, which inflated some by 2-3x over their quiet cost), rounded
up; `python -m bench.cost_model` shows them against measurements. A class
whose header cannot tell (PNG tRNS, WebP lossless) takes the dearer one.
The per-megabyte term prices what the pixel count does not: entropy-coded
data (Huffman, VP8, inflate) costs by its bytes, and a noisy 10 MB photo
costs far more to decode than a smooth picture of the same size (measured
on noise at 3000x2000: JPEG baseline 9, progressive 38, WebP lossy 69,
lossless 29, PNG 9 ms per MB).
"""

from dataclasses import dataclass

from . import jpeg, png, webp
from .limits import DecodeLimits

# The walk, Pillow's open, the crop and resize to the model's square.
BASE_CPU_SECONDS = 0.15
# Three times the measured cost: the dearest decodes were measured loaded, and a
# fresh decoder's first 8000 px image took a third more than that (CI, 1 in 10).
MARGIN = 3.0
WALL_PER_CPU = 3.0
WALL_FLOOR_SECONDS = 1.0
# A progressive JPEG's cost grows with its scans past the ~10 an encoder writes.
USUAL_JPEG_SCANS = 10
# The side of the largest images the figures below were measured on
# (testing/images/largest.py): MAX_IMAGE_DIMENSION may not go past it.
MEASURED_SIDE = 8000

# Measured CPU ms per megapixel of each class (docs/benchmarks.md, "The decode budget").
PER_MEGAPIXEL_MS: dict[str, float] = {
    "jpeg_baseline_grey": 0.5,
    "jpeg_baseline_subsampled": 0.7,
    "jpeg_baseline_full": 1.3,
    "jpeg_baseline_cmyk": 1.8,
    "jpeg_progressive_grey": 5.0,
    "jpeg_progressive_subsampled": 11.0,
    "jpeg_progressive_full": 15.0,
    "jpeg_progressive_cmyk": 21.0,
    # PNG, by colour type and bit depth; with a possible tRNS (the header cannot tell).
    "png_grey_8": 4.5,
    "png_grey_16": 10.0,
    "png_rgb_8": 15.5,
    "png_rgb_16": 16.0,
    "png_palette": 9.0,
    "png_grey_alpha_8": 14.0,
    "png_grey_alpha_16": 12.0,
    "png_rgba_8": 14.0,
    "png_rgba_16": 19.0,
    # WebP: lossless costs most (a lossy one is scaled inside libwebp).
    "webp": 17.0,
}
# Measured CPU ms per megabyte of file, by family (noise: the dearest content per byte).
PER_MEGABYTE_MS: dict[str, float] = {
    "jpeg_baseline": 12.0,
    "jpeg_progressive": 45.0,
    "png": 12.0,
    "webp": 80.0,
}
PNG_COLOUR_TYPES = {0: "grey", 2: "rgb", 3: "palette", 4: "grey_alpha", 6: "rgba"}


@dataclass(frozen=True)
class Allowance:
    """What one upload may cost its decoder, and the class of image it was priced as."""

    image_class: str
    cpu_seconds: float
    wall_seconds: float


def image_class(structure: jpeg.JpegStructure | png.PngStructure | webp.WebpStructure) -> str:
    """The cost class of an image from its header (a key of PER_MEGAPIXEL_MS)."""
    if isinstance(structure, jpeg.JpegStructure):
        return _jpeg_class(structure)
    if isinstance(structure, png.PngStructure):
        colour = PNG_COLOUR_TYPES.get(structure.color_type, "rgba")
        if colour == "palette":
            return "png_palette"
        return f"png_{colour}_{16 if structure.bit_depth == 16 else 8}"
    return "webp"


def _jpeg_class(structure: jpeg.JpegStructure) -> str:
    kind = "progressive" if structure.progressive else "baseline"
    count = len(structure.components)
    if count == 1:
        return f"jpeg_{kind}_grey"
    if count >= 4:
        return f"jpeg_{kind}_cmyk"
    sampling = {(c.h, c.v) for c in structure.components}
    return f"jpeg_{kind}_{'subsampled' if len(sampling) > 1 else 'full'}"


def allowance(
    structure: jpeg.JpegStructure | png.PngStructure | webp.WebpStructure,
    limits: DecodeLimits,
    size_bytes: int = 0,
) -> Allowance:
    """The budget of an upload of `size_bytes` whose header is `structure`, within the ceilings."""
    kind = image_class(structure)
    megapixels = structure.width * structure.height / 1_000_000
    per_megapixel = PER_MEGAPIXEL_MS[kind] * _scan_factor(structure)
    per_megabyte = PER_MEGABYTE_MS[_family(kind)]
    measured_ms = per_megapixel * megapixels + per_megabyte * size_bytes / 1_000_000
    cpu = min(limits.cpu_seconds, BASE_CPU_SECONDS + MARGIN * measured_ms / 1000)
    wall = min(limits.wall_seconds, max(WALL_FLOOR_SECONDS, WALL_PER_CPU * cpu))
    return Allowance(image_class=kind, cpu_seconds=cpu, wall_seconds=wall)


def _family(kind: str) -> str:
    """The PER_MEGABYTE_MS key of a class: its format, and for JPEG its coding."""
    if kind.startswith("jpeg_"):
        return "_".join(kind.split("_")[:2])
    return kind.split("_")[0]


def _scan_factor(structure: object) -> float:
    if isinstance(structure, jpeg.JpegStructure) and structure.progressive:
        return max(1.0, structure.scans / USUAL_JPEG_SCANS)
    return 1.0
