"""Is this upload an image we accept? Checks on bytes, cheapest and most general first.

Each check is a small callable class with the error it raises (an ApiError:
status, `code`, client `message`). `check_upload` runs them in the order of
DESIGN.md: declared type on the allowlist -> real format from magic bytes
equals the declared one -> size -> dimensions and pixel count from the header
-> JPEG scan count -> Pillow `verify()` -> a fresh open and a complete decode.
Nothing about the upload is trusted: not the declared type, not the filename,
not a single byte. Pillow only ever sees data whose magic bytes are JPEG, PNG
or WebP, and is opened with its format list restricted to that one format,
so no other decoder can be reached. Library messages go to the log only.

MPO (the multi-picture files of phones and stereo cameras) is accepted as
JPEG: its bytes are a JPEG whose first picture is an ordinary baseline image,
and Pillow names it "MPO" even when asked for JPEG only. Only the first
picture is decoded.
"""

import hashlib
import io
import logging
import mimetypes
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NoReturn

from django.conf import settings
from PIL import Image, ImageFile, PngImagePlugin

from . import errors, jpeg

logger = logging.getLogger(__name__)

JPEG, PNG, WEBP = "JPEG", "PNG", "WEBP"
FORMAT_CONTENT_TYPES = {JPEG: "image/jpeg", PNG: "image/png", WEBP: "image/webp"}
# What Pillow calls each format we accept; MPO is a JPEG (module docstring).
PILLOW_FORMATS = {"JPEG": JPEG, "MPO": JPEG, "PNG": PNG, "WEBP": WEBP}
# PNG text chunks are inflated at open(); Pillow allows 64 MiB of them per
# image. Real photos carry a few KB of metadata, so a smaller budget costs
# nothing and bounds what a text-chunk bomb can make the server allocate.
PNG_TEXT_MEMORY_BYTES = 8 * 1024 * 1024
# The checks decode a JPEG at the smallest DCT scale that keeps both sides at
# least this long: the model's resize side (analysis.export.RESIZE_SIZE), so
# that `decoding.decode_upload` can use that frame instead of decoding the
# file a second time. Every entropy-coded byte is read at any scale, and
# that is most of the cost (bench/: one decode of a 2 MP JPEG instead of two).
JPEG_CHECK_MIN_SIDE = 256


@dataclass(frozen=True)
class CheckedUpload:
    """An upload that passed every check: real image bytes of an allowed format.

    `format` is the format found in the bytes ("JPEG", "PNG" or "WEBP"),
    `width`/`height` the stored dimensions (before EXIF orientation).
    `content_type` and `filename` are what the client declared; the filename
    is kept for the audit record only and used for nothing else. `frame` is
    the first frame as the checks decoded it (a JPEG at a reduced DCT
    scale, see JPEG_CHECK_MIN_SIDE), so `decoding.decode_upload` need not
    decode it again when it is large enough.
    """

    data: bytes = field(repr=False)
    format: str
    width: int
    height: int
    sha256: str
    size: int
    content_type: str
    filename: str
    frame: Image.Image | None = field(default=None, repr=False, compare=False)


@dataclass
class UploadFacts:
    """What the checks learned about an upload so far; filled even when one fails."""

    sha256: str = ""
    detected_format: str = ""
    width: int | None = None
    height: int | None = None


def configure_pillow() -> None:
    """Pin the Pillow globals the checks rely on (idempotent, cheap).

    Pillow's own bomb limit follows MAX_IMAGE_PIXELS and its bomb warning is
    an error, so a pixel count between the limit and twice the limit (where
    Pillow only warns) is refused too. Truncated images are never completed.
    """
    Image.MAX_IMAGE_PIXELS = settings.MAX_IMAGE_PIXELS
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    PngImagePlugin.MAX_TEXT_MEMORY = PNG_TEXT_MEMORY_BYTES
    if not any(
        f[0] == "error" and f[2] is Image.DecompressionBombWarning for f in warnings.filters
    ):
        warnings.filterwarnings("error", category=Image.DecompressionBombWarning)


def open_image(data: bytes, image_format: str) -> Image.Image:
    """Open `data` with Pillow's JPEG, PNG or WebP plugin only; header read, no pixels.

    Raises DecompressionBomb when Pillow's pixel limit trips and InvalidImage
    for anything else Pillow cannot open. The caller closes the image.
    """
    configure_pillow()
    try:
        image = Image.open(io.BytesIO(data), formats=[image_format])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        logger.info("Pillow refused a bomb: %s", exc)
        raise errors.DecompressionBomb() from exc
    except Exception as exc:
        logger.info("Pillow could not open the upload: %s: %s", type(exc).__name__, exc)
        raise errors.InvalidImage() from exc
    if PILLOW_FORMATS.get(image.format or "") != image_format:
        image.close()
        raise errors.ContentTypeMismatch()
    return image


def sniff_format(data: bytes) -> str | None:
    """The accepted format whose signature `data` starts with, or None."""
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return WEBP
    return None


class UploadValidator:
    """A check that raises `error` (an ApiError) with `message` when it fails."""

    error: type[errors.ApiError] = errors.ApiError
    message: str | None = None

    @property
    def code(self) -> str:
        return self.error.code

    def fail(self) -> NoReturn:
        raise self.error(self.message)


class CapValidator(UploadValidator):
    """A check against a numeric cap: the one given, else the setting named `setting`."""

    setting: str = ""

    def __init__(self, limit: int | None = None) -> None:
        self._limit = limit

    @property
    def limit(self) -> int:
        return self._limit if self._limit is not None else getattr(settings, self.setting)


class ContentTypeValidator(UploadValidator):
    """The declared content type is on the allowlist (415 unsupported_media_type)."""

    error = errors.UnsupportedMediaType

    def __init__(self, allowed: Iterable[str] | None = None) -> None:
        self.allowed = tuple(allowed) if allowed is not None else None

    def __call__(self, content_type: str) -> str:
        """Return the declared type, normalised (lower case, no parameters)."""
        normalised = (content_type or "").split(";")[0].strip().lower()
        allowed = self.allowed if self.allowed is not None else settings.ALLOWED_CONTENT_TYPES
        if normalised not in allowed:
            self.fail()
        return normalised


class MagicBytesValidator(UploadValidator):
    """The bytes' real format is the declared one (415 content_type_mismatch).

    An empty file is no image at all (422 invalid_image).
    """

    error = errors.ContentTypeMismatch

    def __call__(self, data: bytes, content_type: str) -> str:
        """Return the real format ("JPEG", "PNG" or "WEBP")."""
        if not data:
            raise errors.InvalidImage("The file is empty.")
        real = sniff_format(data)
        if real is None or FORMAT_CONTENT_TYPES[real] != content_type:
            self.fail()
        return real


class FilenameExtensionValidator(UploadValidator):
    """An image extension in the filename does not contradict the bytes (415).

    Only consistency is checked: "photo.png" carrying JPEG bytes is refused,
    while a name without an image extension ("blob", "x.bin", "x.mpo") is
    fine. The name never picks a decoder, a path or a storage name.
    """

    error = errors.ContentTypeMismatch
    # Extensions the mimetypes table does not map to the type we decode.
    ALIASES = {"image/apng": "image/png", "image/pjpeg": "image/jpeg"}

    def __call__(self, filename: str, real_format: str) -> None:
        guessed, _ = mimetypes.guess_type(filename or "", strict=False)
        guessed = self.ALIASES.get(guessed or "", guessed)
        if (
            guessed
            and guessed.startswith("image/")
            and guessed != FORMAT_CONTENT_TYPES[real_format]
        ):
            self.fail()


class UploadSizeValidator(CapValidator):
    """At most MAX_UPLOAD_BYTES (413). The upload handler already stops larger streams."""

    error = errors.FileTooLarge
    setting = "MAX_UPLOAD_BYTES"

    def __call__(self, data: bytes) -> None:
        if len(data) > self.limit:
            self.fail()


class DimensionValidator(CapValidator):
    """Neither side is over MAX_IMAGE_DIMENSION (422 image_too_large)."""

    error = errors.ImageTooLarge
    setting = "MAX_IMAGE_DIMENSION"

    def __call__(self, width: int, height: int) -> None:
        if width > self.limit or height > self.limit:
            self.fail()


class PixelCountValidator(CapValidator):
    """Width times height is at most MAX_IMAGE_PIXELS (422 decompression_bomb)."""

    error = errors.DecompressionBomb
    setting = "MAX_IMAGE_PIXELS"

    def __call__(self, width: int, height: int) -> None:
        if width * height > self.limit:
            self.fail()


class JpegScanValidator(CapValidator):
    """A JPEG has at most MAX_JPEG_SCANS scans (422 too_many_scans), counted before decoding."""

    error = errors.TooManyScans
    setting = "MAX_JPEG_SCANS"

    def __call__(self, data: bytes) -> int:
        try:
            return jpeg.count_scans(data, limit=self.limit)
        except jpeg.TooManyScans:
            self.fail()
        except jpeg.MalformedJpeg as exc:
            raise errors.InvalidImage() from exc


def header_size(data: bytes, image_format: str) -> tuple[int, int]:
    """(width, height) as stored in the header; no pixel is decoded.

    Pillow's own bomb check runs here already (DecompressionBomb); the
    explicit caps are checked by the caller with the validators above.
    """
    with open_image(data, image_format) as image:
        return image.size


class ImageDecodeValidator(UploadValidator):
    """Pillow's `verify()`, then a fresh open and a complete decode (422 invalid_image).

    `verify()` checks the container (PNG chunk CRCs, for one) but proves
    nothing about the pixels, so the first frame is decoded too. A JPEG is
    decoded at the smallest DCT scale that keeps JPEG_CHECK_MIN_SIDE: every
    entropy-coded byte is still read, so truncation and corruption show, at
    a fraction of the cost, and the frame can serve the model.
    """

    error = errors.InvalidImage

    def __call__(self, data: bytes, image_format: str) -> Image.Image:
        """Return the decoded first frame (still carrying its metadata, e.g. EXIF)."""
        try:
            with open_image(data, image_format) as image:
                image.verify()
            image = open_image(data, image_format)
            if image_format == JPEG:
                image.draft(None, (JPEG_CHECK_MIN_SIDE, JPEG_CHECK_MIN_SIDE))
            image.load()
            return image
        except errors.ApiError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise errors.DecompressionBomb() from exc
        except Exception as exc:
            logger.info("Decoding the upload failed: %s: %s", type(exc).__name__, exc)
            self.fail()


def check_upload(
    data: bytes,
    *,
    content_type: str,
    filename: str = "",
    facts: UploadFacts | None = None,
) -> CheckedUpload:
    """Run every check on an upload and return it as a `CheckedUpload`.

    Raises the ApiError of the first check that fails. `facts` (optional) is
    filled as each fact is learned, so a caller can record them on rejection.
    """
    facts = facts if facts is not None else UploadFacts()
    facts.sha256 = hashlib.sha256(data).hexdigest()
    facts.detected_format = sniff_format(data) or ""
    declared = ContentTypeValidator()(content_type)
    real_format = MagicBytesValidator()(data, declared)
    FilenameExtensionValidator()(filename, real_format)
    UploadSizeValidator()(data)
    width, height = header_size(data, real_format)
    facts.width, facts.height = width, height
    # Pixels first: a 25000x25000 header on a few KB is a bomb, whatever its sides.
    PixelCountValidator()(width, height)
    DimensionValidator()(width, height)
    if real_format == JPEG:
        JpegScanValidator()(data)
    frame = ImageDecodeValidator()(data, real_format)
    return CheckedUpload(
        data=data,
        format=real_format,
        width=width,
        height=height,
        sha256=facts.sha256,
        size=len(data),
        content_type=declared,
        filename=filename,
        frame=frame,
    )
