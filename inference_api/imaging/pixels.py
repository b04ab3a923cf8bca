"""From a decoded frame of any mode to a small upright 8-bit RGB picture, in bounded memory.

- A frame far larger than the model needs is box-reduced in horizontal
  strips, each converted to RGB on its own first: no full-size copy of the
  frame is ever made (an 8000x8000 RGBA PNG costs its 256 MB decode and a
  few MB more, instead of 2 GB of conversions).
- Every mode becomes 8-bit RGB: 16-bit samples are scaled (not clipped) to 8
  bits; CMYK, palette, 1-bit and grayscale are converted. Transparency
  (alpha channels, palette or single-colour tRNS) is composited on white:
  the model was trained on photographs with no alpha, the colour under a
  transparent pixel is undefined (often black), and a product shot or logo
  on a transparent background is meant to be seen on a light page.
- EXIF orientation (Pillow also reads it from XMP) is applied to the small
  picture. Broken EXIF is common in real files and never rejects an image.
"""

import logging

import numpy as np
from PIL import Image

logger = logging.getLogger(__name__)

WHITE = (255, 255, 255, 255)
ALPHA_MODES = frozenset({"RGBA", "LA", "PA"})
SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})
ORIENTATION_TAG = 0x0112
# What each EXIF orientation takes to be upright (as ImageOps.exif_transpose).
TRANSPOSES = {
    2: (Image.Transpose.FLIP_LEFT_RIGHT,),
    3: (Image.Transpose.ROTATE_180,),
    4: (Image.Transpose.FLIP_TOP_BOTTOM,),
    5: (Image.Transpose.TRANSPOSE,),
    6: (Image.Transpose.ROTATE_270,),
    7: (Image.Transpose.TRANSVERSE,),
    8: (Image.Transpose.ROTATE_90,),
}
# Modes Pillow's reduce averages channel by channel as they are (no palette,
# no alpha to premultiply): reduced whole, before any conversion.
DIRECTLY_REDUCIBLE = frozenset({"L", "RGB", "CMYK", "I", "F"})
# Rows converted at once when reducing: a strip of an 8000-wide frame in RGBA
# is a few MB, whatever the frame's height.
STRIP_BYTES = 8 * 1024 * 1024


def reduced_rgb(frame: Image.Image, factor: int) -> Image.Image:
    """`frame` as 8-bit RGB, box-reduced `factor` times (1: as is), without a full-size copy."""
    if factor < 2:
        return to_rgb(frame)
    if frame.mode in DIRECTLY_REDUCIBLE and "transparency" not in frame.info:
        return to_rgb(frame.reduce(factor))
    width, height = frame.size
    rows = max(1, STRIP_BYTES // (8 * width * factor)) * factor
    out = Image.new("RGB", (-(-width // factor), -(-height // factor)))
    for top in range(0, height, rows):
        strip = frame.crop((0, top, width, min(height, top + rows)))
        out.paste(_reduced_strip(strip, factor), (0, top // factor))
    return out


def _reduced_strip(strip: Image.Image, factor: int) -> Image.Image:
    """One strip as RGB, reduced; transparency is averaged premultiplied, then put on white."""
    if strip.mode in SIXTEEN_BIT_MODES:
        strip = _sixteen_to_eight_bit(strip)
    if strip.mode in ALPHA_MODES or "transparency" in strip.info:
        rgba = strip if strip.mode == "RGBA" else strip.convert("RGBA")
        return _on_white(rgba.convert("RGBa").reduce(factor).convert("RGBA"))
    return strip.convert("RGB").reduce(factor)


def orientation(frame: Image.Image) -> int:
    """The EXIF (or XMP) orientation of `frame`, 1 when absent or unreadable."""
    try:
        value = frame.getexif().get(ORIENTATION_TAG, 1)
    except Exception as exc:
        logger.info("Ignoring unreadable orientation metadata: %s: %s", type(exc).__name__, exc)
        return 1
    return value if value in TRANSPOSES else 1


def exif_orientation(exif: bytes) -> int:
    """The orientation in a raw EXIF block (a WebP's EXIF chunk), 1 when absent or unreadable."""
    if not exif:
        return 1
    try:
        parsed = Image.Exif()
        parsed.load(exif)
        value = parsed.get(ORIENTATION_TAG, 1)
    except Exception as exc:
        logger.info("Ignoring unreadable EXIF: %s: %s", type(exc).__name__, exc)
        return 1
    return value if value in TRANSPOSES else 1


def upright(picture: Image.Image, turn: int) -> Image.Image:
    """`picture` turned as EXIF orientation `turn` says."""
    for method in TRANSPOSES.get(turn, ()):
        picture = picture.transpose(method)
    return picture


def to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode as 8-bit RGB (see the module docstring); an RGB image is returned as is."""
    if image.mode == "RGB" and "transparency" not in image.info:
        return image
    if image.mode in SIXTEEN_BIT_MODES:
        image = _sixteen_to_eight_bit(image)
    if image.mode in ALPHA_MODES or "transparency" in image.info:
        return _on_white(image)
    return image.convert("RGB")


def _on_white(image: Image.Image) -> Image.Image:
    rgba = image if image.mode == "RGBA" else image.convert("RGBA")  # compositing copies anyway
    if rgba.getchannel("A").getextrema()[0] == 255:
        # Opaque everywhere (screenshots and photos saved with alpha): the composite
        # is the colour itself, exactly; 2 MP: 3 ms instead of 16.
        return rgba.convert("RGB")
    background = Image.new("RGBA", rgba.size, WHITE)
    return Image.alpha_composite(background, rgba).convert("RGB")


def _sixteen_to_eight_bit(image: Image.Image) -> Image.Image:
    """Grayscale with 16-bit samples -> "L" (or "LA" when a tRNS gray value is set).

    Pillow's own conversion clips every value above 255 to white; the PNG
    specification scales sample depths instead, which keeping the high byte does.
    """
    samples = np.asarray(image)
    if samples.dtype.kind == "u":  # I;16 variants: the high byte, no widening
        gray = Image.fromarray((samples >> 8).astype(np.uint8))
    else:  # mode I: 32-bit samples that hold 16-bit values
        gray = Image.fromarray((np.clip(samples, 0, 0xFFFF) >> 8).astype(np.uint8))
    transparent = image.info.get("transparency")
    if not isinstance(transparent, int):
        return gray
    alpha = np.where(samples == transparent, 0, 255).astype(np.uint8)
    return Image.merge("LA", (gray, Image.fromarray(alpha)))
