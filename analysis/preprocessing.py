"""Image to tensor, exactly as the model's metadata says. Pure: no I/O.

The caller hands over a decoded RGB image; this module never sees bytes from
a client, so it trusts only that the image's size is within the upload caps.
"""

import numpy as np
import torch
from PIL import Image

from .cropping import _RESAMPLE, REDUCING_GAP, resize_and_crop  # noqa: F401 - re-exported
from .metadata import ModelMetadata


def to_tensor(image: Image.Image, metadata: ModelMetadata) -> torch.Tensor:
    """A normalised 1x3xHxW float tensor from an RGB image of the input size.

    Channels-last (NHWC in memory), as the exported graph's weights are: the
    image's own HxWx3 layout, so no copy is made to get it.
    """
    pixels = np.asarray(image, dtype=np.float32) / 255.0
    mean = np.asarray(metadata.mean, dtype=np.float32)
    std = np.asarray(metadata.std, dtype=np.float32)
    normalised = (pixels - mean) / std
    return torch.from_numpy(normalised).permute(2, 0, 1)[None]


def preprocess(image: Image.Image, metadata: ModelMetadata) -> torch.Tensor:
    """The model's input for `image` (which must already be RGB)."""
    if image.mode != "RGB":
        raise ValueError(f"preprocess expects an RGB image, got {image.mode}")
    return to_tensor(resize_and_crop(image, metadata), metadata)
