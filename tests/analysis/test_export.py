"""The export's rewrite of a padded convolution computes what the padded convolution did."""

import pytest
import torch

from analysis.export import pad_inside

# (kernel, stride, ZeroPad2d's left, right, top, bottom, groups): TensorFlow's "same"
# padding of EfficientNet-Lite's convolutions: the stem, the stride-2 depthwise ones
# (3x3 and 5x5, one more at the end), a symmetric one, and a non-square case.
CASES = [
    (3, 2, (0, 1, 0, 1), 1),
    (3, 2, (0, 1, 0, 1), 8),
    (5, 2, (1, 2, 1, 2), 8),
    (3, 1, (1, 1, 1, 1), 8),
    (3, 2, (0, 1, 1, 1), 1),
]


def padded_convolution(kernel: int, stride: int, groups: int) -> torch.nn.Conv2d:
    torch.manual_seed(kernel * 10 + groups)
    return torch.nn.Conv2d(8, 8, kernel, stride=stride, groups=groups, bias=True).eval()


@pytest.mark.parametrize(("kernel", "stride", "padding", "groups"), CASES)
@pytest.mark.parametrize("side", [28, 29])
def test_the_convolution_padding_itself_gives_the_padded_convolutions_output(
    kernel, stride, padding, groups, side
):
    conv = padded_convolution(kernel, stride, groups)
    pixels = torch.randn(1, 8, side, side)
    with torch.no_grad():
        expected = conv(torch.nn.functional.pad(pixels, padding))
        assert pad_inside(conv, padding)
        found = conv(pixels)
    assert found.shape == expected.shape
    assert torch.allclose(found, expected, rtol=0, atol=1e-5)


def test_an_asymmetric_padding_grows_the_kernel_at_its_start_by_zeros():
    conv = padded_convolution(5, 2, 8)
    weight = conv.weight.detach().clone()
    assert pad_inside(conv, (1, 2, 1, 2))
    assert conv.kernel_size == (6, 6) and conv.padding == (2, 2)
    assert torch.equal(conv.weight[:, :, 1:, 1:], weight)
    assert not conv.weight[:, :, 0, :].any() and not conv.weight[:, :, :, 0].any()


@pytest.mark.parametrize(
    "padding", [(1, 0, 1, 0), (0, 1, 1, 0)], ids=["more at the start", "left short, top long"]
)
def test_a_padding_longer_at_the_start_is_left_to_the_pad(padding):
    conv = padded_convolution(3, 2, 1)
    assert not pad_inside(conv, padding)
    assert conv.kernel_size == (3, 3) and conv.padding == (0, 0)


def test_a_dilated_already_padded_or_reflecting_convolution_is_left_as_it_is():
    dilated = torch.nn.Conv2d(8, 8, 3, dilation=2)
    padded = torch.nn.Conv2d(8, 8, 3, padding=1)
    reflecting = torch.nn.Conv2d(8, 8, 3, padding_mode="reflect")
    for conv in (dilated, padded, reflecting):
        assert not pad_inside(conv, (0, 1, 0, 1))
    assert dilated.kernel_size == (3, 3) and padded.padding == (1, 1)
    assert reflecting.kernel_size == (3, 3) and reflecting.padding == (0, 0)
