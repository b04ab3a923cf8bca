"""Is this upload an image we accept? Checks on bytes, cheapest and most general first.

Each check is a small callable class with the error it raises (an ApiError:
status, `code`, client `message`). `check_upload` runs them cheapest first:
the size (the byte cap, whatever form the file came in; not even hashed when
over) -> declared type on the allowlist (or none declared) -> real format
from the magic bytes accepted, and the declared one if any -> then,
in a decoder process whose CPU, memory and wall clock the kernel bounds
(inference_api.sandbox), the walk of the file's structure, the header
dimensions and pixel count, and one open and decode of the first frame down
to the model's input square (inference_api.imaging.prepare). Nothing about
the upload is trusted: not the declared type (a hint; the bytes decide), not
the filename, not a single byte, and no decoder runs in this process.
"""

import functools
import hashlib
import mimetypes
import os
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import NoReturn

from django.conf import settings
from PIL import Image

from .. import errors, sandbox
from ..context import Examined
from ..imaging.formats import (
    FORMAT_CONTENT_TYPES,
    JPEG,
    PNG,
    UNDECLARED_TYPES,
    WEBP,
    media_type,
    sniff_format,
)
from ..imaging.limits import DecodeLimits, ModelInput
from .body import over_the_cap

__all__ = ["JPEG", "PNG", "WEBP", "CheckedUpload", "check_upload"]


@dataclass(frozen=True)
class CheckedUpload:
    """An upload that passed every check: real image bytes of an allowed format.

    `format` is the format found in the bytes ("JPEG", "PNG" or "WEBP"),
    `width`/`height` the stored dimensions (before EXIF orientation).
    `content_type` and `filename` are what the client declared; the filename
    is kept for the audit record only and used for nothing else. `pixels`
    is the model's input as the decoder made it: an RGB square of
    `input_size` pixels a side; `decode_ms` what the decoder took, wall clock.
    """

    data: bytes = field(repr=False)
    format: str
    width: int
    height: int
    sha256: str
    size: int
    content_type: str
    filename: str
    pixels: bytes = field(default=b"", repr=False, compare=False)
    input_size: int = 0
    decode_ms: float = 0.0

    def square(self) -> Image.Image:
        """The model's input square as an RGB image."""
        return Image.frombytes("RGB", (self.input_size, self.input_size), self.pixels)

    @property
    def examined(self) -> Examined:
        """What the checks learned, for the audit."""
        return Examined(self.sha256, self.format, self.width, self.height)


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
    """The declared type is an accepted one, an alias of one, or none at all (415).

    A client that names no type, or application/octet-stream, declares
    nothing: the bytes will decide. Any other type off the allowlist
    (image/gif, text/plain, ...) is refused before a byte is looked at.
    """

    error = errors.UnsupportedMediaType
    message = "Only JPEG, PNG and WebP images are accepted; convert the image to one of them."

    def __init__(self, allowed: Iterable[str] | None = None) -> None:
        self.allowed = tuple(allowed) if allowed is not None else None

    def __call__(self, content_type: str) -> str:
        """Return the declared media type (lower case, no parameters, aliases resolved), or ""."""
        declared = media_type(content_type)
        if declared in UNDECLARED_TYPES:
            return ""
        if declared not in allowed_types(self.allowed):
            self.fail()
        return declared


class MagicBytesValidator(UploadValidator):
    """The bytes' real format is an accepted one, and the declared one when a type was declared.

    Bytes of another format under a declared accepted type are a lie about
    the file (415 content_type_mismatch, flagged); with no type declared
    they are only not an image we take (415 unsupported_media_type, not
    flagged). An empty file is no image at all (422 invalid_image).
    """

    error = errors.ContentTypeMismatch

    def __init__(self, allowed: Iterable[str] | None = None) -> None:
        self.allowed = tuple(allowed) if allowed is not None else None

    def __call__(self, data: bytes, declared: str) -> str:
        """Return the real format ("JPEG", "PNG" or "WEBP")."""
        if not data:
            raise errors.InvalidImage("The file is empty; send the image's bytes.")
        real = sniff_format(data)
        real_type = FORMAT_CONTENT_TYPES.get(real or "")
        if not declared:
            if real_type not in allowed_types(self.allowed):
                raise errors.UnsupportedMediaType(ContentTypeValidator.message)
            return real
        if real_type != declared:
            raise errors.ContentTypeMismatch(mismatch_message(real, declared))
        return real


def mismatch_message(real_format: str | None, declared: str) -> str:
    """What a client whose declared type the bytes contradict should do, in one sentence."""
    if real_format is None:
        return f"The file is not the {declared} image it declares; send the image's own bytes."
    real_type = FORMAT_CONTENT_TYPES[real_format]
    return (
        f"The file is a {real_format} image, not {declared} as declared; "
        f"declare {real_type}, or no type at all."
    )


def allowed_types(allowed: Iterable[str] | None = None) -> tuple[str, ...]:
    """The accepted media types: `allowed` when given, else ALLOWED_CONTENT_TYPES."""
    return tuple(allowed) if allowed is not None else tuple(settings.ALLOWED_CONTENT_TYPES)


class FilenameExtensionValidator(UploadValidator):
    """An image extension in the filename does not contradict the bytes (415).

    Only consistency is checked: "photo.png" carrying JPEG bytes is refused,
    while a name without an image extension ("blob", "x.bin", "x.mpo") is
    fine. The name never picks a decoder, a path or a storage name.
    """

    error = errors.ContentTypeMismatch

    def __call__(self, filename: str, real_format: str) -> None:
        guessed, _ = mimetypes.guess_type(filename or "", strict=False)
        guessed = media_type(guessed or "")
        real_type = FORMAT_CONTENT_TYPES[real_format]
        if guessed.startswith("image/") and guessed != real_type:
            raise self.error(
                f"The file's name says {guessed} but it is a {real_format} image; "
                "rename it, or send it without a name."
            )


class UploadSizeValidator(CapValidator):
    """At most MAX_UPLOAD_BYTES (413). The upload handler already stops larger streams."""

    error = errors.FileTooLarge
    setting = "MAX_UPLOAD_BYTES"

    def __call__(self, data: bytes) -> None:
        size = len(data)
        if size > self._limit if self._limit is not None else over_the_cap(size):
            self.fail()


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _hasher() -> ThreadPoolExecutor:
    """One thread per process that hashes uploads while their decoder runs."""
    return _hasher_of(os.getpid())


@functools.cache
def _hasher_of(pid: int) -> ThreadPoolExecutor:
    # Keyed by the process id: a forked child must not use a pool whose thread it has not.
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="upload-hash")


def served_model_input() -> ModelInput:
    """What the decoder must make for the served model: its own metadata's resize and crop.

    Raises analysis.errors.ModelUnavailable when the model cannot be loaded.
    """
    from analysis.model_store import get_model  # torch is imported where the model is used

    return ModelInput.of(get_model().metadata)


def check_upload(
    data: bytes,
    *,
    content_type: str,
    model_input: ModelInput | None = None,
    filename: str = "",
    limits: DecodeLimits | None = None,
) -> CheckedUpload:
    """Run every check on an upload and return it as a `CheckedUpload`.

    Raises the ApiError of the first check that fails (422 `too_costly` when
    the decode goes over its budget), carrying what was learned of the bytes
    so far (`ApiError.examined`). `limits` defaults to the running
    configuration's, `model_input` to what the served model wants (loaded
    only once the cheap checks have passed, so a malformed upload is refused
    even while the model is unavailable).
    """
    detected_format = sniff_format(data) or ""
    try:
        # The size first: a file over the cap is refused unhashed, whatever form it came in.
        UploadSizeValidator()(data)
    except errors.ApiError as exc:
        raise exc.carrying(examined=Examined(detected_format=detected_format)) from None
    try:
        declared = ContentTypeValidator()(content_type)
        real_format = MagicBytesValidator()(data, declared)
        FilenameExtensionValidator()(filename, real_format)
    except errors.ApiError as exc:
        raise exc.carrying(examined=Examined(sha256_of(data), detected_format)) from None
    wanted = model_input or served_model_input()
    started = time.perf_counter()
    # The hash is computed while the decoder works (hashlib lets go of the GIL).
    hashing = _hasher().submit(sha256_of, data)
    try:
        prepared = sandbox.decode(data, limits or DecodeLimits.from_settings(), wanted)
    except errors.ApiError as exc:
        decoded = exc.examined or Examined()
        examined = Examined(hashing.result(), detected_format, decoded.width, decoded.height)
        raise exc.carrying(examined=examined) from None
    examined = Examined(hashing.result(), detected_format)
    return CheckedUpload(
        data=data,
        format=real_format,
        width=prepared.examined.width,
        height=prepared.examined.height,
        sha256=examined.sha256,
        size=len(data),
        content_type=declared,
        filename=filename,
        pixels=prepared.pixels,
        input_size=prepared.size,
        decode_ms=(time.perf_counter() - started) * 1000,
    )
