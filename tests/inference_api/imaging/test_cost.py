"""imaging/cost.py: the budget follows what the header declares."""

import pytest

from inference_api.imaging import cost
from inference_api.imaging.limits import DecodeLimits
from inference_api.imaging.prepare import inspect_structure
from inference_api.testing.images.largest import LARGEST, build
from inference_api.testing.images.uploads import encode

CLASSES = {
    "jpeg_baseline_420": "jpeg_baseline_subsampled",
    "jpeg_baseline_444": "jpeg_baseline_full",
    "jpeg_progressive_420": "jpeg_progressive_subsampled",
    "jpeg_progressive_444": "jpeg_progressive_full",
    "jpeg_grey": "jpeg_baseline_grey",
    "jpeg_cmyk_progressive": "jpeg_progressive_cmyk",
    "png_grey": "png_grey_8",
    "png_rgb": "png_rgb_8",
    "png_rgba": "png_rgba_8",
    "png_grey16": "png_grey_16",
    "png_grey16_transparent": "png_grey_16",
    "png_rgba16": "png_rgba_16",
    "png_grey_alpha16": "png_grey_alpha_16",
    "png_rgb16": "png_rgb_16",
    "png_palette": "png_palette",
    "png_palette_transparent": "png_palette",
    "png_exif_rotated": "png_rgb_8",
    "apng": "png_rgba_8",
    "webp_lossy": "webp",
    "webp_lossless": "webp",
    "webp_alpha": "webp",
    "webp_animated": "webp",
}
FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}


def structure_of(name: str, side: int = 64):
    data = build(name, side)
    return inspect_structure(data, FORMATS[LARGEST[name][1]], DecodeLimits.from_settings())


def test_every_class_of_the_largest_images_has_a_price():
    assert set(CLASSES) == set(LARGEST)
    assert set(CLASSES.values()) <= set(cost.PER_MEGAPIXEL_MS)


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_the_header_says_which_class_an_image_is(name):
    assert cost.image_class(structure_of(name)) == CLASSES[name]


def test_a_tiny_image_gets_a_tight_allowance():
    structure = inspect_structure(encode("JPEG", (64, 48)), "JPEG", DecodeLimits.from_settings())
    allowance = cost.allowance(structure, DecodeLimits.from_settings())
    assert allowance.cpu_seconds < cost.BASE_CPU_SECONDS + 0.001
    assert allowance.wall_seconds == cost.WALL_FLOOR_SECONDS


def test_the_allowance_grows_with_the_declared_pixels_and_stops_at_the_ceiling():
    small, large = structure_of("png_rgba16", 1000), structure_of("png_rgba16", 8000)
    limits = DecodeLimits.from_settings()
    # A megapixel earns about a quarter of a second, where every upload had a whole one.
    assert cost.allowance(small, limits).cpu_seconds < 0.25
    assert 1.9 < cost.allowance(large, limits).cpu_seconds <= limits.cpu_seconds
    assert cost.allowance(large, DecodeLimits.from_settings(cpu_seconds=0.5)).cpu_seconds == 0.5


def test_a_progressive_jpeg_with_more_scans_than_usual_earns_more():
    from inference_api.testing.images.costly import cmyk_progressive_with_scans

    limits = DecodeLimits.from_settings()
    usual = inspect_structure(cmyk_progressive_with_scans(10, (800, 800)), "JPEG", limits)
    many = inspect_structure(cmyk_progressive_with_scans(40, (800, 800)), "JPEG", limits)
    assert cost.allowance(many, limits).cpu_seconds > cost.allowance(usual, limits).cpu_seconds


def test_the_bytes_of_the_file_count_too_a_noisy_photo_costs_more_than_a_smooth_one():
    structure = structure_of("webp_lossy", 3000)
    limits = DecodeLimits.from_settings()
    smooth = cost.allowance(structure, limits, 300_000)
    noisy = cost.allowance(structure, limits, 4_500_000)
    # A noisy 3000x2000 lossy WebP of 4.5 MB took 313 ms: its allowance covers it twice.
    assert noisy.cpu_seconds - smooth.cpu_seconds > 0.6
    assert noisy.cpu_seconds > 2 * 0.313
