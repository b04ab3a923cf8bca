"""The picture the model sees: the resized centre square. Pure, Pillow only (no torch).

Runs inside the decoder process (inference_api.sandbox), which imports no
torch, and in the server for images that are already decoded. `metadata` is
anything with the model metadata's `resize_size`, `input_size` and
`interpolation` (a ModelMetadata, or the ModelInput the sandbox carries).
"""

from typing import Protocol

from PIL import Image


class CropShape(Protocol):
    resize_size: int
    input_size: int
    interpolation: str


_RESAMPLE = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR}
# Downscale in two steps (a cheap box reduce first) past this ratio: same
# result within rounding, much less work on multi-megapixel images.
REDUCING_GAP = 3.0


def resize_and_crop(image: Image.Image, metadata: CropShape) -> Image.Image:
    """Short side to `resize_size`, then the centre `input_size` square.

    Only the part of `image` that ends up in the square is resampled: the
    square is mapped back to the image's coordinates and resized on its own,
    with the same scale and sampling positions as resizing the whole image
    then cropping (same result within rounding, ~40% less work; docs/decisions.md).
    """
    width, height = image.size
    scale = metadata.resize_size / min(width, height)
    resized_width, resized_height = max(1, round(width * scale)), max(1, round(height * scale))
    crop = metadata.input_size
    left = (resized_width - crop) // 2
    top = (resized_height - crop) // 2
    to_x, to_y = width / resized_width, height / resized_height
    box = (left * to_x, top * to_y, (left + crop) * to_x, (top + crop) * to_y)
    return image.resize(
        (crop, crop), _RESAMPLE[metadata.interpolation], box=box, reducing_gap=REDUCING_GAP
    )
