"""From checked bytes to the RGB picture the model gets: scale, orientation, frames, modes."""

import io

import numpy as np
import pytest
from PIL import Image

from inference_api import errors
from inference_api.decoding import decode_upload, to_rgb
from inference_api.validators import CheckedUpload, check_upload
from tests.inference_api.upload_images import CONTENT_TYPES, animated, encode, with_exif_orientation


@pytest.fixture(autouse=True)
def _pillow_limit(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)


def checked(data: bytes, fmt: str) -> CheckedUpload:
    return check_upload(data, content_type=CONTENT_TYPES[fmt], filename="upload")


def saved(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def test_a_large_jpeg_is_decoded_at_a_reduced_scale_that_keeps_min_side():
    upload = checked(encode("JPEG", (2048, 1536)), "JPEG")
    image = decode_upload(upload, min_side=256)
    # 1536 / 256 = 6, so libjpeg's 1/4 scale: the short side stays >= 256.
    assert (image.mode, image.size) == ("RGB", (512, 384))
    assert decode_upload(upload, min_side=1000).size == (2048, 1536)


def test_a_12_megapixel_jpeg_is_decoded_once_at_an_eighth_of_its_size():
    upload = checked(encode("JPEG", (4000, 3000), quality=85), "JPEG")
    # The checks decoded it at 1/8 scale already; that frame serves a 256 px model.
    assert upload.frame.size == (500, 375)
    image = decode_upload(upload, min_side=256)
    assert image.size == (500, 375)


def test_a_2_megapixel_jpeg_is_decoded_once_at_the_scale_the_model_needs():
    upload = checked(encode("JPEG", (1632, 1224)), "JPEG")
    # The checks decode at 1/4 (not 1/8): the short side keeps 256 px, so that frame is used.
    assert upload.frame.size == (408, 306)
    assert decode_upload(upload, min_side=256).size == (408, 306)


def test_the_checks_frame_is_released_once_decoded_and_a_second_decode_still_works():
    upload = checked(encode("PNG", (1200, 900)), "PNG")
    first = decode_upload(upload, min_side=256)
    with pytest.raises(ValueError, match="closed image"):
        upload.frame.load()
    second = decode_upload(upload, min_side=256)
    assert np.array_equal(np.asarray(first), np.asarray(second))


def test_a_jpeg_no_larger_than_needed_is_decoded_at_full_size():
    upload = checked(encode("JPEG", (300, 200)), "JPEG")
    assert decode_upload(upload, min_side=256).size == (300, 200)


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_formats_without_dct_scaling_are_decoded_at_full_size(fmt):
    upload = checked(encode(fmt, (1200, 900)), fmt)
    assert decode_upload(upload, min_side=256).size == (1200, 900)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
@pytest.mark.parametrize(
    ("orientation", "size"), [(1, (40, 20)), (3, (40, 20)), (6, (20, 40)), (8, (20, 40))]
)
def test_exif_orientation_is_applied(fmt, orientation, size):
    upload = checked(with_exif_orientation(fmt, (40, 20), orientation), fmt)
    image = decode_upload(upload, min_side=20)
    assert image.size == size
    # The blue half is stored on the left: 6 (90 degrees clockwise) brings it to
    # the top, 3 (180) to the right, 8 (90 counter-clockwise) to the bottom.
    corner_blue = image.getpixel((2, 2))[2] > 150
    assert corner_blue == (orientation in (1, 6))


@pytest.mark.parametrize("name", ["orientation_rectangle.jpg", "hopper_orientation_6.webp"])
def test_corpus_orientation_samples_come_out_turned(corpus_dir, name):
    data = (corpus_dir / name).read_bytes()
    fmt = "JPEG" if name.endswith(".jpg") else "WEBP"
    upload = checked(data, fmt)
    image = decode_upload(upload, min_side=8)
    assert image.size == (upload.height, upload.width)


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_only_the_first_frame_of_an_animation_is_used(fmt):
    upload = checked(animated(fmt, [(255, 0, 0), (0, 255, 0), (0, 0, 255)]), fmt)
    assert decode_upload(upload, min_side=8).getpixel((8, 8)) == (255, 0, 0)


def test_an_mpo_gives_its_first_picture(corpus_dir):
    data = (corpus_dir / "sugarshack.mpo").read_bytes()
    image = np.asarray(decode_upload(checked(data, "JPEG"), min_side=480))
    with Image.open(io.BytesIO(data)) as mpo:
        first = np.asarray(mpo.convert("RGB"))
        mpo.seek(1)
        second = np.asarray(mpo.convert("RGB"))
    assert image.shape == (480, 640, 3)
    assert np.array_equal(image, first)
    assert not np.array_equal(image, second)


def test_cmyk_becomes_rgb():
    cyan = Image.new("CMYK", (16, 16), (255, 0, 0, 0))
    upload = checked(saved(cyan, "JPEG", quality=100), "JPEG")
    red, green, blue = decode_upload(upload, min_side=16).getpixel((8, 8))
    assert red < 10 and green > 245 and blue > 245


def test_sixteen_bit_gray_is_scaled_not_clipped():
    samples = np.array([[0x0000, 0x4000, 0x8000, 0xFFFF]], dtype=np.uint16)
    upload = checked(saved(Image.fromarray(samples), "PNG"), "PNG")
    image = decode_upload(upload, min_side=1)
    assert [image.getpixel((x, 0)) for x in range(4)] == [
        (0, 0, 0),
        (64, 64, 64),
        (128, 128, 128),
        (255, 255, 255),
    ]


def test_a_sixteen_bit_trns_gray_value_becomes_white():
    samples = np.array([[1000, 0x8000]], dtype=np.uint16)
    upload = checked(saved(Image.fromarray(samples), "PNG", transparency=1000), "PNG")
    image = decode_upload(upload, min_side=1)
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


@pytest.mark.parametrize("mode", ["LA", "RGBA"])
def test_alpha_modes_from_png_are_composited(mode):
    source = Image.new("RGBA", (8, 8), (10, 20, 30, 0)).convert(mode)
    upload = checked(saved(source, "PNG"), "PNG")
    assert decode_upload(upload, min_side=1).getpixel((4, 4)) == (255, 255, 255)


def test_palette_alpha_is_composited():
    source = Image.new("RGBA", (8, 8), (10, 20, 30, 0)).convert("PA")
    assert to_rgb(source).getpixel((4, 4)) == (255, 255, 255)


def test_a_transparent_palette_entry_becomes_white():
    palette = Image.new("P", (4, 4), 1)
    palette.putpalette([0, 0, 0, 200, 10, 10] + [0] * 762)
    palette.putpixel((0, 0), 0)
    upload = checked(saved(palette, "PNG", transparency=0), "PNG")
    image = decode_upload(upload, min_side=1)
    assert image.getpixel((0, 0)) == (255, 255, 255)
    assert image.getpixel((1, 1)) == (200, 10, 10)


@pytest.mark.parametrize("mode", ["1", "L", "P", "RGB"])
def test_opaque_modes_become_rgb(mode):
    source = Image.new("RGB", (8, 8), (255, 255, 255)).convert(mode)
    upload = checked(saved(source, "PNG"), "PNG")
    image = decode_upload(upload, min_side=1)
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
    image = decode_upload(checked((corpus_dir / name).read_bytes(), fmt), min_side=224)
    assert image.mode == "RGB"


def test_bytes_that_do_not_decode_are_an_invalid_image():
    good = encode("PNG", (32, 32))
    broken = CheckedUpload(
        data=good[: len(good) // 2],
        format="PNG",
        width=32,
        height=32,
        sha256="",
        size=len(good) // 2,
        content_type="image/png",
        filename="x.png",
    )
    with pytest.raises(errors.InvalidImage):
        decode_upload(broken, min_side=8)
