"""Image to tensor, exactly as the model's metadata says. Pure: no I/O.

The caller hands over a decoded RGB image; this module never sees bytes from
a client, so it trusts only that the image's size is within the upload caps.
"""

import functools

import torch
from PIL import Image

from .cropping import _RESAMPLE, REDUCING_GAP, resize_and_crop  # noqa: F401 - re-exported
from .metadata import ModelMetadata


def to_tensor(image: Image.Image, metadata: ModelMetadata) -> torch.Tensor:
    """A normalised 1x3xHxW float tensor from an RGB image of the input size.

    Channels-last (NHWC in memory), as the exported graph's weights are: the
    image's own HxWx3 layout, so no copy is made to get it. The normalisation
    (x / 255 - mean) / std is one multiply-add per value, x * scale + bias.
    """
    width, height = image.size
    pixels = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8)
    scale, bias = _affine(metadata.mean, metadata.std)
    normalised = torch.addcmul(bias, pixels.view(height, width, 3).to(torch.float32), scale)
    return normalised.permute(2, 0, 1)[None]


@functools.cache
def _affine(mean: tuple[float, ...], std: tuple[float, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """(x / 255 - mean) / std as x * scale + bias, per channel."""
    std_ = torch.tensor(std, dtype=torch.float64)
    scale = 1.0 / (255.0 * std_)
    bias = -torch.tensor(mean, dtype=torch.float64) / std_
    return scale.to(torch.float32), bias.to(torch.float32)


def preprocess(image: Image.Image, metadata: ModelMetadata) -> torch.Tensor:
    """The model's input for `image` (which must already be RGB)."""
    if image.mode != "RGB":
        raise ValueError(f"preprocess expects an RGB image, got {image.mode}")
    return to_tensor(resize_and_crop(image, metadata), metadata)
