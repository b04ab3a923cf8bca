"""From checked bytes to the RGB picture the model gets: scale, orientation, frames, modes.

`decode_picture` is what the decoder process runs after the structural
checks; these tests call it in-process, on real Pillow and libwebp.
"""

import io

import numpy as np
import pytest
from PIL import Image

from analysis.cropping import resize_and_crop
from inference_api import errors
from inference_api.imaging.limits import DecodeLimits, ModelInput
from inference_api.imaging.pixels import reduced_rgb, to_rgb
from inference_api.imaging.prepare import decode_picture, prepare
from inference_api.testing.images import photos
from inference_api.testing.images.photos import encode as encode_photo
from inference_api.testing.images.uploads import animated, encode, with_exif_orientation


def decoded(data: bytes, fmt: str, min_side: int) -> Image.Image:
    return decode_picture(data, fmt, DecodeLimits.from_settings(), min_side)


def saved(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def test_a_large_jpeg_is_decoded_at_a_reduced_scale_that_keeps_min_side():
    data = encode("JPEG", (2048, 1536))
    image = decoded(data, "JPEG", 256)
    # 1536 / 256 = 6, so libjpeg's 1/4 scale: the short side stays >= 256.
    assert (image.mode, image.size) == ("RGB", (512, 384))
    assert decoded(data, "JPEG", 1000).size == (2048, 1536)


def test_a_12_megapixel_jpeg_is_decoded_at_an_eighth_of_its_size():
    assert decoded(encode("JPEG", (4000, 3000), quality=85), "JPEG", 256).size == (500, 375)


def test_a_2_megapixel_jpeg_is_decoded_at_the_scale_the_model_needs():
    # 1/4, not 1/8: the short side keeps 256 px.
    assert decoded(encode("JPEG", (1632, 1224)), "JPEG", 256).size == (408, 306)


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_a_picture_far_larger_than_needed_is_reduced_while_decoding(fmt):
    # 2400 / (256 * 2) -> a box reduce by 4: the short side stays above twice 256.
    assert decoded(encode(fmt, (3200, 2400)), fmt, 256).size == (800, 600)
    # 1224 / 512: a 2 MP PNG is halved.
    assert decoded(encode(fmt, (1632, 1224)), fmt, 256).size == (816, 612)


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_the_reduced_picture_gives_the_square_of_the_bicubic_resize_within_rounding(fmt):
    """The box reduce before the bicubic resize changes the model's input by rounding only."""
    photo = photos.photo((1632, 1224))
    data = encode_photo(photo, fmt, lossless=True) if fmt == "WEBP" else encode_photo(photo, fmt)
    prepared = prepare(data, DecodeLimits.from_settings(), ModelInput())
    square = np.frombuffer(prepared.pixels, np.uint8).astype(int)
    exact = np.asarray(resize_and_crop(photo, ModelInput()), dtype=int).ravel()
    difference = np.abs(square - exact)
    assert difference.max() <= 2
    assert difference.mean() < 0.5


def frame_of(mode: str) -> Image.Image:
    """A 700x650 gradient in `mode`, with a rotated gradient as alpha where it has one."""
    gray = Image.linear_gradient("L").resize((700, 650))
    if mode == "I;16":
        return Image.fromarray(np.asarray(gray).astype(np.uint16) * 257)
    if mode == "P":
        return gray.convert("RGB").convert("P")
    bands = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4, "CMYK": 4}[mode]
    frame = Image.merge(mode, [gray] * bands) if bands > 1 else gray
    if mode in ("LA", "RGBA"):
        frame.putalpha(gray.rotate(90))
    return frame


# Reducing before converting is the same picture within rounding: premultiplied
# alpha rounds twice, and CMYK -> RGB is not quite linear.
@pytest.mark.parametrize(
    ("mode", "tolerance"),
    [("RGBA", 2), ("LA", 2), ("P", 1), ("I;16", 1), ("RGB", 1), ("L", 1), ("CMYK", 2)],
)
def test_reducing_in_strips_matches_converting_then_reducing(mode, tolerance):
    frame = frame_of(mode)
    got = reduced_rgb(frame, 3)
    expected = to_rgb(frame).reduce(3)
    assert (got.mode, got.size) == ("RGB", expected.size)
    difference = np.abs(np.asarray(got, dtype=int) - np.asarray(expected, dtype=int))
    assert difference.max() <= tolerance


def test_transparent_pixels_do_not_darken_a_reduced_picture():
    # Half the pixels are transparent black, half opaque red: on white, the average is
    # pink (255, 128, 128); averaging colours without their alpha would give (191, 128, 128).
    frame = Image.new("RGBA", (6, 6), (0, 0, 0, 0))
    for x in range(0, 6, 2):
        for y in range(6):
            frame.putpixel((x, y), (255, 0, 0, 255))
    red, green, blue = reduced_rgb(frame, 2).getpixel((1, 1))
    assert red == 255 and abs(green - 128) <= 1 and abs(blue - 128) <= 1


def test_a_jpeg_no_larger_than_needed_is_decoded_at_full_size():
    assert decoded(encode("JPEG", (300, 200)), "JPEG", 256).size == (300, 200)


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_formats_without_dct_scaling_are_decoded_at_full_size_below_three_times(fmt):
    assert decoded(encode(fmt, (1200, 900)), fmt, 256).size == (1200, 900)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
@pytest.mark.parametrize(
    ("orientation", "size"), [(1, (40, 20)), (3, (40, 20)), (6, (20, 40)), (8, (20, 40))]
)
def test_exif_orientation_is_applied(fmt, orientation, size):
    image = decoded(with_exif_orientation(fmt, (40, 20), orientation), fmt, 20)
    assert image.size == size
    # The blue half is stored on the left: 6 (90 degrees clockwise) brings it to
    # the top, 3 (180) to the right, 8 (90 counter-clockwise) to the bottom.
    corner_blue = image.getpixel((2, 2))[2] > 150
    assert corner_blue == (orientation in (1, 6))


@pytest.mark.parametrize("name", ["orientation_rectangle.jpg", "hopper_orientation_6.webp"])
def test_corpus_orientation_samples_come_out_turned(corpus_dir, name):
    data = (corpus_dir / name).read_bytes()
    fmt = "JPEG" if name.endswith(".jpg") else "WEBP"
    with Image.open(io.BytesIO(data)) as stored:
        width, height = stored.size
    assert decoded(data, fmt, 1000).size == (height, width)


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_only_the_first_frame_of_an_animation_is_used(fmt):
    data = animated(fmt, [(255, 0, 0), (0, 255, 0), (0, 0, 255)])
    assert decoded(data, fmt, 8).getpixel((8, 8)) == (255, 0, 0)


def test_an_mpo_gives_its_first_picture(corpus_dir):
    data = (corpus_dir / "sugarshack.mpo").read_bytes()
    image = np.asarray(decoded(data, "JPEG", 480))
    with Image.open(io.BytesIO(data)) as mpo:
        first = np.asarray(mpo.convert("RGB"))
        mpo.seek(1)
        second = np.asarray(mpo.convert("RGB"))
    assert image.shape == (480, 640, 3)
    assert np.array_equal(image, first)
    assert not np.array_equal(image, second)


def test_cmyk_becomes_rgb():
    cyan = Image.new("CMYK", (16, 16), (255, 0, 0, 0))
    red, green, blue = decoded(saved(cyan, "JPEG", quality=100), "JPEG", 16).getpixel((8, 8))
    assert red < 10 and green > 245 and blue > 245


def test_sixteen_bit_gray_is_scaled_not_clipped():
    samples = np.array([[0x0000, 0x4000, 0x8000, 0xFFFF]], dtype=np.uint16)
    image = decoded(saved(Image.fromarray(samples), "PNG"), "PNG", 8)
    assert [image.getpixel((x, 0)) for x in range(4)] == [
        (0, 0, 0),
        (64, 64, 64),
        (128, 128, 128),
        (255, 255, 255),
    ]


def test_a_sixteen_bit_trns_gray_value_becomes_white():
    samples = np.array([[1000, 0x8000]], dtype=np.uint16)
    image = decoded(saved(Image.fromarray(samples), "PNG", transparency=1000), "PNG", 8)
    assert [image.getpixel((x, 0)) for x in range(2)] == [(255, 255, 255), (128, 128, 128)]


def test_alpha_is_composited_on_white():
    rgba = Image.new("RGBA", (4, 1), (0, 0, 0, 0))
    rgba.putpixel((1, 0), (0, 0, 0, 255))
    rgba.putpixel((2, 0), (0, 0, 0, 128))
    image = to_rgb(rgba)
    assert image.mode == "RGB"
    assert [image.getpixel((x, 0)) for x in range(3)] == [
        (255, 255, 255),
        (0, 0, 0),
        (127, 127, 127),
    ]


@pytest.mark.parametrize("options", [{"quality": 90}, {"lossless": True}])
def test_a_webp_no_larger_than_needed_comes_out_as_pillow_decodes_it(options):
    # libwebp's rescaler at a factor of 1 changed a lossy WebP's chroma (up to 5 levels).
    gradients = (Image.linear_gradient("L"), Image.radial_gradient("L"))
    channels = (*gradients, Image.effect_noise((256, 256), 40))
    colourful = Image.merge("RGB", channels).resize((640, 480))
    data = saved(colourful, "WEBP", **options)
    with Image.open(io.BytesIO(data)) as reference:
        expected = reference.convert("RGB").tobytes()
    image = decoded(data, "WEBP", 256)
    assert (image.mode, image.tobytes()) == ("RGB", expected)


@pytest.mark.parametrize("options", [{"quality": 90}, {"lossless": True}])
def test_a_webp_with_alpha_is_still_composited_on_white(options):
    source = Image.new("RGBA", (640, 480), (10, 20, 30, 0))
    source.paste((10, 20, 30, 255), (0, 0, 320, 480))
    image = decoded(saved(source, "WEBP", **options), "WEBP", 256)
    assert image.getpixel((600, 240)) == (255, 255, 255)
    opaque = np.array(image.getpixel((100, 240))) - (10, 20, 30)
    assert np.abs(opaque).max() <= 3


def test_an_rgb_picture_is_not_copied_to_become_rgb():
    picture = Image.new("RGB", (8, 8))
    assert to_rgb(picture) is picture


@pytest.mark.parametrize("mode", ["LA", "RGBA"])
def test_alpha_modes_from_png_are_composited(mode):
    source = Image.new("RGBA", (8, 8), (10, 20, 30, 0)).convert(mode)
    assert decoded(saved(source, "PNG"), "PNG", 8).getpixel((4, 4)) == (255, 255, 255)


def test_palette_alpha_is_composited():
    source = Image.new("RGBA", (8, 8), (10, 20, 30, 0)).convert("PA")
    assert to_rgb(source).getpixel((4, 4)) == (255, 255, 255)


def test_a_transparent_palette_entry_becomes_white():
    palette = Image.new("P", (4, 4), 1)
    palette.putpalette([0, 0, 0, 200, 10, 10] + [0] * 762)
    palette.putpixel((0, 0), 0)
    image = decoded(saved(palette, "PNG", transparency=0), "PNG", 8)
    assert image.getpixel((0, 0)) == (255, 255, 255)
    assert image.getpixel((1, 1)) == (200, 10, 10)


@pytest.mark.parametrize("mode", ["1", "L", "P", "RGB"])
def test_opaque_modes_become_rgb(mode):
    source = Image.new("RGB", (8, 8), (255, 255, 255)).convert(mode)
    image = decoded(saved(source, "PNG"), "PNG", 8)
    assert (image.mode, image.getpixel((4, 4))) == ("RGB", (255, 255, 255))


@pytest.mark.parametrize(
    "name",
    [
        "hopper_bad_exif.jpg",
        "invalid-exif.jpg",
        "exif-dpi-zerodivision.jpg",
        "exif_gps_typeerror.jpg",
        "empty_gps_ifd.jpg",
        "truncated_exif_dpi.jpg",
        "multiple_exif.jpg",
        "xmp_tags_orientation_exiftool.png",
        "i_trns.png",
        "pil_sample_cmyk.jpg",
    ],
)
def test_odd_metadata_and_modes_from_the_corpus_decode(corpus_dir, name):
    fmt = "PNG" if name.endswith(".png") else "JPEG"
    image = decoded((corpus_dir / name).read_bytes(), fmt, 224)
    assert image.mode == "RGB"


def test_bytes_that_do_not_decode_are_an_invalid_image():
    good = encode("PNG", (32, 32))
    with pytest.raises(errors.InvalidImage):
        decoded(good[: len(good) // 2], "PNG", 8)


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_an_opaque_picture_with_an_alpha_channel_keeps_its_colours_exactly(fmt):
    colours = Image.merge("RGB", [Image.effect_noise((320, 240), 60) for _ in range(3)])
    options = {"lossless": True} if fmt == "WEBP" else {}
    image = decoded(saved(colours.convert("RGBA"), fmt, **options), fmt, 240)
    assert image.tobytes() == colours.tobytes()


def test_compositing_an_opaque_rgba_picture_on_white_gives_its_colours():
    colours = Image.merge("RGB", [Image.effect_noise((64, 48), 60) for _ in range(3)])
    assert to_rgb(colours.convert("RGBA")).tobytes() == colours.tobytes()
