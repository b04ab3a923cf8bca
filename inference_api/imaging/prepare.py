"""From upload bytes to the model's input: every check on the bytes, one open, one decode.

`prepare` is what the decoder process runs for each upload (inference_api.
sandbox bounds what it may cost): the real format from the magic bytes, a
walk of the file's structure against the caps (jpeg, png, webp), the header
dimensions and pixel count, then one open of the bytes and one decode of the
first frame, reduced as early as the format allows (JPEG DCT scaling, WebP
scaling inside libwebp, a strip-wise box reduce otherwise), converted to
upright RGB and cut to the model's centre square. What comes back is that
square's pixels and what the audit needs (`context.Examined`: the format and
the header's dimensions); the frame never leaves. A refusal is the ApiError
of the check that failed, carrying the same.

Pillow only ever sees data whose magic bytes are JPEG, PNG or WebP and is
opened with its format list restricted to that one format, so no other
decoder can be reached. MPO (phones' and stereo cameras' multi-picture
files) is a JPEG whose first picture is decoded. Library messages go to the
log only; every failure is an errors.ApiError.
"""

import io
import logging
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO

from PIL import Image, ImageFile, PngImagePlugin

from analysis.cropping import resize_and_crop

from .. import errors
from ..context import Examined
from . import inflate, jpeg, libwebp, pixels, png, webp
from .formats import JPEG, PILLOW_FORMATS, PNG, WEBP, sniff_format
from .limits import DecodeLimits, ModelInput

logger = logging.getLogger(__name__)

Structure = jpeg.JpegStructure | png.PngStructure | webp.WebpStructure
INSPECTORS = {JPEG: jpeg.inspect, PNG: png.inspect, WEBP: webp.inspect}
# Pillow's own cap on inflated PNG text; png.inspect caps all compressed metadata first.
PNG_TEXT_MEMORY_BYTES = 8 * 1024 * 1024
# The box reduce of a frame (PNG, WebP) larger than the model needs: while its
# short side stays above twice the resize's 256 px, as Image.thumbnail does it
# (reducing_gap=2.0). A 2 MP PNG is halved first: its reduce and bicubic resize
# take 3.5 ms instead of 8.2, within 2 levels of the bicubic alone (mean 0.3).
DECODE_REDUCING_GAP = 2.0


@dataclass(frozen=True)
class Cost:
    """What a decode cost its process: CPU time, and resident memory at idle and at peak.

    `image_class` and `allowance_ms` are what the header earned (imaging/cost.py).
    """

    cpu_ms: float = 0.0
    idle_rss_kb: int = 0
    peak_rss_kb: int = 0
    image_class: str = ""
    allowance_ms: float = 0.0

    @property
    def above_idle_kb(self) -> int:
        return max(0, self.peak_rss_kb - self.idle_rss_kb)


@dataclass(frozen=True)
class Prepared:
    """The model's input for an accepted upload: `pixels` is RGB, input_size square."""

    examined: Examined
    pixels: bytes
    size: int
    cost: Cost = Cost()


def prepare(
    data: bytes,
    limits: DecodeLimits,
    model_input: ModelInput,
    on_header: Callable[[Structure], None] | None = None,
) -> Prepared:
    """Check `data` and turn it into the model's input, or raise the refusal's ApiError.

    `on_header` is called with the structure once the walk and the size
    checks have passed, before any decode: the decoder process sets the
    upload's budget from it (imaging/cost.py).

    The structural walks raise only ApiErrors on any input (anything else
    from them is a bug and propagates); the decoders' own failures on
    hostile bytes are refused as `invalid_image`, running out of memory as
    `too_costly`. Each refusal carries what was learned before it.
    """
    image_format = sniff_format(data) or ""
    examined = Examined(detected_format=image_format)
    try:
        structure = inspect_structure(data, image_format, limits)
        examined = Examined(
            detected_format=image_format, width=structure.width, height=structure.height
        )
        check_size(structure.width, structure.height, limits)
    except errors.ApiError as exc:
        raise exc.carrying(examined=examined) from None
    if on_header is not None:
        on_header(structure)
    try:
        with decoded(data, image_format, limits, model_input.resize_size, structure) as picture:
            square = resize_and_crop(picture, model_input)
    except errors.ApiError as exc:
        raise exc.carrying(examined=examined) from None
    except MemoryError:
        raise errors.TooCostly(examined=examined) from None
    except Exception as exc:
        logger.info("Decoding the upload failed: %s: %s", type(exc).__name__, exc)
        raise errors.InvalidImage(examined=examined) from None
    return Prepared(examined=examined, pixels=square.tobytes(), size=square.width)


def inspect_structure(data: bytes, image_format: str, limits: DecodeLimits) -> Structure:
    """The walk of the format's structure against the caps (jpeg, png, webp `inspect`)."""
    inspect = INSPECTORS.get(image_format)
    if inspect is None:
        raise errors.ContentTypeMismatch()
    return inspect(data, limits)


def check_size(width: int, height: int, limits: DecodeLimits) -> None:
    """Pixels first (a 25000x25000 header on a few KB is a bomb, whatever its sides), then sides."""
    if width * height > limits.max_pixels:
        raise errors.DecompressionBomb()
    if width > limits.max_dimension or height > limits.max_dimension:
        raise errors.ImageTooLarge()


def decode_picture(
    data: bytes,
    image_format: str,
    limits: DecodeLimits,
    min_side: int,
    structure: Structure | None = None,
) -> Image.Image:
    """The first frame of checked bytes, upright RGB, short side >= `min_side` when it was.

    `structure` is the format's walk when the caller made it already. The
    picture is the caller's own (`decoded` lends one for the time of a block).
    """
    with decoded(data, image_format, limits, min_side, structure) as picture:
        return picture.copy()


@contextmanager
def decoded(
    data: bytes,
    image_format: str,
    limits: DecodeLimits,
    min_side: int,
    structure: Structure | None = None,
) -> Iterator[Image.Image]:
    """`decode_picture`'s picture for the time of a `with` block, with no copy of it made.

    An RGB frame that needs no reduction and no turn is the picture itself
    (a 2 MP RGB PNG: 8 MB not copied); the frame is closed when the block ends.
    A PNG's image data is inflated by ISA-L first where it can be (`inflate`).
    """
    if image_format == WEBP:
        yield _decode_webp(data, structure or webp.inspect(data, limits), min_side)
        return
    source = None
    if image_format == PNG:
        source = inflate.stored_png(data, structure or png.inspect(data, limits), limits)
    frame = _open(source or io.BytesIO(data), image_format, limits)
    try:
        if image_format == JPEG and min(frame.size) >= 2 * min_side:
            frame.draft(None, (min_side, min_side))
        _load(frame)
        turn = pixels.orientation(frame)
        yield pixels.upright(pixels.reduced_rgb(frame, reduce_factor(frame.size, min_side)), turn)
    finally:
        frame.close()


def _decode_webp(data: bytes, structure: webp.WebpStructure, min_side: int) -> Image.Image:
    factor = reduce_factor((structure.width, structure.height), min_side)
    picture = libwebp.decode_first_frame(data, factor)
    return pixels.upright(pixels.to_rgb(picture), pixels.exif_orientation(structure.exif))


def reduce_factor(size: tuple[int, int], min_side: int) -> int:
    """The box reduce made while decoding, before the model's bicubic resize."""
    return max(1, int(min(size) / (min_side * DECODE_REDUCING_GAP)))


def configure_pillow(limits: DecodeLimits) -> None:
    """Pin the Pillow globals the checks rely on (idempotent, cheap).

    Pillow's own bomb limit follows `max_pixels` and its bomb warning is an
    error, so a pixel count between the limit and twice the limit (where
    Pillow only warns) is refused too. Truncated images are never completed.
    """
    Image.MAX_IMAGE_PIXELS = limits.max_pixels
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    PngImagePlugin.MAX_TEXT_MEMORY = PNG_TEXT_MEMORY_BYTES
    if not any(
        f[0] == "error" and f[2] is Image.DecompressionBombWarning for f in warnings.filters
    ):
        warnings.filterwarnings("error", category=Image.DecompressionBombWarning)


def open_image(data: bytes, image_format: str, limits: DecodeLimits) -> Image.Image:
    """Open `data` with Pillow's JPEG, PNG or WebP plugin only; header read, no pixels.

    Raises DecompressionBomb when Pillow's pixel limit trips and InvalidImage
    for anything else Pillow cannot open. The caller closes the image.
    """
    return _open(io.BytesIO(data), image_format, limits)


def _open(source: IO[bytes], image_format: str, limits: DecodeLimits) -> Image.Image:
    configure_pillow(limits)
    try:
        image = Image.open(source, formats=[image_format])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        logger.info("Pillow refused a bomb: %s", exc)
        raise errors.DecompressionBomb() from exc
    except MemoryError:
        raise
    except Exception as exc:
        logger.info("Pillow could not open the upload: %s: %s", type(exc).__name__, exc)
        raise errors.InvalidImage() from exc
    if PILLOW_FORMATS.get(image.format or "") != image_format:
        image.close()
        raise errors.ContentTypeMismatch()
    return image


def _load(frame: Image.Image) -> None:
    try:
        frame.load()
    except MemoryError:
        raise
    except Exception as exc:
        logger.info("Decoding the upload failed: %s: %s", type(exc).__name__, exc)
        raise errors.InvalidImage() from exc
