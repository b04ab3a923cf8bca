"""Photographs at camera sizes, made here from scikit-image's, for the benchmarks and load tests.

Upscaling a small photograph gives smooth content that compresses far
better than a camera's; a little seeded sensor-like grain brings the file
sizes back to those of real photos (a 12 MP JPEG at quality 90 is ~3 MB),
and decoding cost follows the compressed size. Everything is deterministic.
"""

import io
from functools import lru_cache

import numpy as np
from PIL import Image

from .uploads import NOT_IMAGES, png_declaring

GRAIN = 5.0
SEED = 7


@lru_cache(maxsize=1)
def _source() -> Image.Image:
    from skimage import data

    return Image.fromarray(data.chelsea())


def photo(size: tuple[int, int]) -> Image.Image:
    """The cat photograph at `size`, with grain."""
    image = _source().resize(size, Image.Resampling.BICUBIC)
    pixels = np.asarray(image, dtype=np.int16)
    rng = np.random.default_rng(SEED)
    grain = rng.normal(0, GRAIN, pixels.shape[:2] + (1,)).astype(np.int16)
    return Image.fromarray(np.clip(pixels + grain, 0, 255).astype(np.uint8))


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def jpeg(size: tuple[int, int], quality: int = 90) -> bytes:
    return encode(photo(size), "JPEG", quality=quality)


def png(size: tuple[int, int]) -> bytes:
    return encode(photo(size), "PNG")


def size_for_megapixels(megapixels: float) -> tuple[int, int]:
    """A 4:3 size of about `megapixels` million pixels."""
    height = round((megapixels * 1e6 * 3 / 4) ** 0.5)
    return round(height * 4 / 3), height


def tiny_jpeg() -> bytes:
    """The cheapest valid upload: a 64x48 JPEG."""
    return jpeg((64, 48))


def png_bomb(width: int = 25_000, height: int = 25_000) -> bytes:
    """A ~50 KB grayscale PNG whose header declares width x height (deflated zeros)."""
    return png_declaring(width, height)


def html_page() -> bytes:
    """An HTML page with a script, to be sent as an image."""
    return NOT_IMAGES["html"]


def worst_case_pngs(side: int = 8000) -> dict[str, bytes]:
    """The largest images the API accepts: side x side PNGs of a gradient, well under 10 MB.

    RGBA and LA are the costliest to decode (alpha is composited on white);
    RGB is the plain case.
    """
    ramp = Image.linear_gradient("L").resize((side, side))
    turned = ramp.transpose(Image.Transpose.ROTATE_90)
    return {
        "RGB": encode(Image.merge("RGB", (ramp, turned, ramp)), "PNG"),
        "RGBA": encode(Image.merge("RGBA", (ramp, ramp, ramp, turned)), "PNG"),
        "LA": encode(Image.merge("LA", (ramp, turned)), "PNG"),
    }
