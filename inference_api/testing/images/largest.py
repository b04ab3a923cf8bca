"""The largest legitimate image of each class the caps allow (8000x8000, under 10 MiB).

One builder per class of the decode cost model (`imaging/cost.py`): JPEG
baseline and progressive, 4:2:0 and 4:4:4, grey and CMYK; PNG grey, RGB,
RGBA, 16-bit, palette, with transparency, with EXIF orientation, animated;
WebP lossy, lossless, with alpha, animated. Pictures are smooth gradients
(real pictures at 64 MP do not fit the byte cap; a gradient does, and it
is what the header declares). `LARGEST` maps each name to its builder and
its content type; `build(name, side)` makes one at any side (the bench
measures each class at several sizes).
"""

import io
from collections.abc import Callable

from PIL import Image

from .costly import GREY, GREY_ALPHA, RGB, RGBA, flat_animated_webp, flat_apng, flat_png
from .uploads import png_chunk

SIDE = 8000
ORIENTATION_TAG = 0x0112


def gradient(mode: str, side: int) -> Image.Image:
    """A smooth side x side picture in `mode`: a gradient in every channel, turned per channel."""
    ramp = Image.linear_gradient("L").resize((side, side), Image.Resampling.BILINEAR)
    bands = [
        ramp,
        ramp.transpose(Image.Transpose.ROTATE_90),
        ramp.transpose(Image.Transpose.ROTATE_180),
    ]
    rgb = Image.merge("RGB", bands)
    if mode == "RGBA":
        rgb.putalpha(ramp.transpose(Image.Transpose.ROTATE_270).point(lambda v: 64 + v // 2))
        return rgb
    return rgb.convert(mode)


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def jpeg(side: int, *, progressive: bool, subsampling: int, mode: str = "RGB") -> bytes:
    options = {"subsampling": subsampling} if mode == "RGB" else {}
    picture = gradient(mode, side)
    return encoded(picture, "JPEG", quality=90, progressive=progressive, **options)


def png(side: int, mode: str, **options) -> bytes:
    return encoded(gradient(mode, side), "PNG", compress_level=6, **options)


def palette_png(side: int, transparent: bool) -> bytes:
    picture = gradient("RGB", side).quantize(256, method=Image.Quantize.FASTOCTREE)
    options = {"transparency": 0} if transparent else {}
    return encoded(picture, "PNG", compress_level=6, **options)


def grey16_png(side: int, transparent: bool) -> bytes:
    """A 16-bit grey PNG (flat: Pillow cannot write a 16-bit gradient fast), tRNS optional."""
    data = flat_png(side, side, bit_depth=16, color_type=GREY)
    if not transparent:
        return data
    at = data.index(b"IDAT") - 4
    return data[:at] + png_chunk(b"tRNS", b"\x00\x00") + data[at:]


def rotated_png(side: int) -> bytes:
    """An RGB PNG whose EXIF says to turn it 90 degrees (orientation 6)."""
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = 6
    return encoded(gradient("RGB", side), "PNG", compress_level=6, exif=exif.tobytes())


def webp(side: int, mode: str, lossless: bool) -> bytes:
    return encoded(gradient(mode, side), "WEBP", lossless=lossless, quality=80, method=0)


LARGEST: dict[str, tuple[Callable[[int], bytes], str]] = {
    "jpeg_baseline_420": (lambda s: jpeg(s, progressive=False, subsampling=2), "image/jpeg"),
    "jpeg_baseline_444": (lambda s: jpeg(s, progressive=False, subsampling=0), "image/jpeg"),
    "jpeg_progressive_420": (lambda s: jpeg(s, progressive=True, subsampling=2), "image/jpeg"),
    "jpeg_progressive_444": (lambda s: jpeg(s, progressive=True, subsampling=0), "image/jpeg"),
    "jpeg_grey": (lambda s: jpeg(s, progressive=False, subsampling=0, mode="L"), "image/jpeg"),
    "jpeg_cmyk_progressive": (
        lambda s: jpeg(s, progressive=True, subsampling=0, mode="CMYK"),
        "image/jpeg",
    ),
    "png_grey": (lambda s: png(s, "L"), "image/png"),
    "png_rgb": (lambda s: png(s, "RGB"), "image/png"),
    "png_rgba": (lambda s: png(s, "RGBA"), "image/png"),
    "png_grey16": (lambda s: grey16_png(s, transparent=False), "image/png"),
    "png_grey16_transparent": (lambda s: grey16_png(s, transparent=True), "image/png"),
    "png_rgba16": (lambda s: flat_png(s, s, bit_depth=16, color_type=RGBA), "image/png"),
    "png_grey_alpha16": (
        lambda s: flat_png(s, s, bit_depth=16, color_type=GREY_ALPHA),
        "image/png",
    ),
    "png_rgb16": (lambda s: flat_png(s, s, bit_depth=16, color_type=RGB), "image/png"),
    "png_palette": (lambda s: palette_png(s, transparent=False), "image/png"),
    "png_palette_transparent": (lambda s: palette_png(s, transparent=True), "image/png"),
    "png_exif_rotated": (rotated_png, "image/png"),
    "apng": (lambda s: flat_apng(s, s), "image/png"),
    "webp_lossy": (lambda s: webp(s, "RGB", lossless=False), "image/webp"),
    "webp_lossless": (lambda s: webp(s, "RGB", lossless=True), "image/webp"),
    "webp_alpha": (lambda s: webp(s, "RGBA", lossless=False), "image/webp"),
    "webp_animated": (lambda s: flat_animated_webp(s, s), "image/webp"),
}


def build(name: str, side: int = SIDE) -> bytes:
    return LARGEST[name][0](side)
