"""Preprocessing is pure: image in, tensor out, parameters from the metadata."""

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

from analysis.export import model_metadata
from analysis.preprocessing import preprocess, resize_and_crop

METADATA = model_metadata()


@pytest.mark.parametrize("size", [(640, 480), (480, 640), (224, 224), (100, 30), (4000, 3000)])
def test_it_makes_a_square_of_the_input_size(size):
    assert resize_and_crop(Image.new("RGB", size), METADATA).size == (224, 224)


@pytest.mark.parametrize("size", [(640, 480), (408, 306), (1632, 1224), (300, 900), (100, 30)])
def test_resampling_only_the_square_matches_resizing_the_whole_image_then_cropping(size):
    photo = Image.fromarray(data.chelsea()).resize(size, Image.Resampling.BICUBIC)
    scale = METADATA.resize_size / min(size)
    whole = photo.resize(
        (round(size[0] * scale), round(size[1] * scale)), Image.Resampling.BICUBIC, reducing_gap=3.0
    )
    left, top = (whole.width - 224) // 2, (whole.height - 224) // 2
    expected = np.asarray(whole.crop((left, top, left + 224, top + 224)), dtype=np.int16)
    actual = np.asarray(resize_and_crop(photo, METADATA), dtype=np.int16)
    assert np.abs(actual - expected).max() <= 2
    assert np.abs(actual - expected).mean() < 0.05


def test_it_normalises_with_the_metadata_mean_and_std():
    grey = Image.new("RGB", (300, 300), (127, 127, 127))
    tensor = preprocess(grey, METADATA)
    assert tensor.shape == (1, 3, 224, 224)
    assert torch.allclose(tensor, torch.zeros_like(tensor), atol=1e-5)
    white = preprocess(Image.new("RGB", (300, 300), (255, 255, 255)), METADATA)
    assert torch.allclose(white, torch.full_like(white, 128 / 128), atol=1e-5)


def test_it_keeps_the_centre_of_the_image():
    image = Image.new("RGB", (600, 300), (0, 0, 0))
    image.paste((255, 255, 255), (150, 0, 450, 300))
    tensor = preprocess(image, METADATA)
    assert tensor.min() > 0.9


def test_it_refuses_an_image_that_is_not_rgb():
    with pytest.raises(ValueError):
        preprocess(Image.new("L", (300, 300)), METADATA)


def test_the_metadata_is_the_lite_pipeline():
    assert (METADATA.input_size, METADATA.resize_size, METADATA.interpolation) == (
        224,
        256,
        "bicubic",
    )
    assert METADATA.mean == pytest.approx((127 / 255,) * 3)
    assert METADATA.std == pytest.approx((128 / 255,) * 3)
    assert len(METADATA.labels) == 1000 and METADATA.labels[967] == "espresso"
