"""From checked upload bytes to the RGB picture the model needs, decoding no more than that.

- JPEGs larger than needed are decoded at a reduced DCT scale (Pillow's draft
  mode): the shorter side still comes out at least `min_side` pixels, so the
  model's own resize has all the detail it uses, at a fraction of the cost.
- EXIF orientation is applied (Pillow also reads it from XMP). Broken EXIF is
  common in real files; it never rejects an image, the picture is then used
  as stored.
- Only the first frame of an animated PNG or WebP (or the first picture of
  an MPO) is decoded.
- Every mode becomes 8-bit RGB: 16-bit samples are scaled (not clipped) to 8
  bits; CMYK, palette, 1-bit and grayscale are converted. Transparency
  (alpha channels, palette or single-colour tRNS) is composited on white:
  the model was trained on photographs with no alpha, the colour under a
  transparent pixel is undefined (often black), and a product shot or logo
  on a transparent background is meant to be seen on a light page.

Nothing here is trusted either: any failure while decoding is an
`errors.InvalidImage`, never a 500.
"""

import logging

import numpy as np
from PIL import Image, ImageOps

from . import errors
from .validators import JPEG, CheckedUpload, open_image

logger = logging.getLogger(__name__)

WHITE = (255, 255, 255, 255)
ALPHA_MODES = frozenset({"RGBA", "LA", "PA"})
SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})


def decode_upload(upload: CheckedUpload, *, min_side: int) -> Image.Image:
    """Decode the first frame of `upload` into an upright RGB image.

    The result's shorter side is at least `min_side` unless the stored image
    is smaller than that. The frame the checks already decoded is reused when
    it is large enough; otherwise the bytes are decoded again, to completion
    (a truncated file fails here). The result is a new image, independent of
    the upload. Raises `errors.InvalidImage` when the bytes do not decode.

    The checks' frame is closed here, used or not (a later call decodes the
    bytes again): the upload outlives the request in a reference cycle (DRF's
    serializer holds its validated data) until the garbage collector's next
    full pass, and a full-size frame must not (bench/: without this, each
    8000x8000 upload left 256 MB behind in the worker).
    """
    try:
        frame = upload.frame
        if frame is None or _closed(frame) or not _large_enough(frame, upload, min_side):
            frame = open_image(upload.data, upload.format)
            if upload.format == JPEG:
                reduce_jpeg_scale(frame, min_side)
            frame.load()
        return to_rgb(upright(frame))
    except errors.ApiError:
        raise
    except Exception as exc:
        logger.info("Decoding a checked upload failed: %s: %s", type(exc).__name__, exc)
        raise errors.InvalidImage() from exc
    finally:
        if upload.frame is not None:
            upload.frame.close()


def _closed(frame: Image.Image) -> bool:
    try:
        return frame.im is None
    except ValueError:  # Pillow's "Operation on closed image"
        return True


def _large_enough(frame: Image.Image, upload: CheckedUpload, min_side: int) -> bool:
    """Whether the frame decoded by the checks can serve: full size, or big enough."""
    return frame.size == (upload.width, upload.height) or min(frame.size) >= min_side


def reduce_jpeg_scale(image: Image.Image, min_side: int) -> None:
    """Ask libjpeg for the smallest DCT scale (1/2, 1/4, 1/8) keeping both sides >= min_side.

    Must run before the image is loaded; a no-op when no scale fits.
    """
    if min(image.size) >= 2 * min_side:
        image.draft(None, (min_side, min_side))


def upright(image: Image.Image) -> Image.Image:
    """The image turned as its EXIF (or XMP) orientation says; as stored if that is unreadable."""
    try:
        return ImageOps.exif_transpose(image)
    except Exception as exc:
        logger.info("Ignoring unreadable orientation metadata: %s: %s", type(exc).__name__, exc)
        return image


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB (see the module docstring for the choices)."""
    if image.mode in SIXTEEN_BIT_MODES:
        image = _sixteen_to_eight_bit(image)
    if image.mode in ALPHA_MODES or "transparency" in image.info:
        return _on_white(image)
    return image.convert("RGB")


def _on_white(image: Image.Image) -> Image.Image:
    rgba = image.convert("RGBA")
    background = Image.new("RGBA", rgba.size, WHITE)
    return Image.alpha_composite(background, rgba).convert("RGB")


def _sixteen_to_eight_bit(image: Image.Image) -> Image.Image:
    """Grayscale with 16-bit samples -> "L" (or "LA" when a tRNS gray value is set).

    Pillow's own conversion clips every value above 255 to white; the PNG
    specification scales sample depths instead, which keeping the high byte does.
    """
    samples = np.asarray(image).astype(np.int64)
    gray = Image.fromarray((np.clip(samples, 0, 0xFFFF) >> 8).astype(np.uint8))
    transparent = image.info.get("transparency")
    if not isinstance(transparent, int):
        return gray
    alpha = np.where(samples == transparent, 0, 255).astype(np.uint8)
    return Image.merge("LA", (gray, Image.fromarray(alpha)))
