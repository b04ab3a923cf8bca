"""The upload checks (upload/checks.py): on bytes alone, then through the API.

First with no request and no database (real Pillow); then through the API
with the test client, where each refusal's audit row and quarantine are checked.
"""

import hashlib
import io
import warnings
from http import HTTPStatus

import pytest
from PIL import Image

from inference_api import errors
from inference_api.context import Examined
from inference_api.imaging.limits import DecodeLimits, ModelInput
from inference_api.imaging.prepare import configure_pillow, open_image
from inference_api.models import AuditLog, FlaggedUpload
from inference_api.testing.http import assert_refused
from inference_api.testing.images.uploads import (
    CONTENT_TYPES,
    NOT_IMAGES,
    encode,
    gif_bytes,
    jpeg_with_scans,
    png_declaring,
    tiff_bytes,
)
from inference_api.upload.checks import (
    ContentTypeValidator,
    FilenameExtensionValidator,
    MagicBytesValidator,
    check_upload,
)

FORMATS = ["JPEG", "PNG", "WEBP"]


def check(data: bytes, content_type: str, filename: str = "upload"):
    return check_upload(
        data, content_type=content_type, filename=filename, model_input=ModelInput()
    )


def refusal(data: bytes, content_type: str, filename: str = "upload") -> errors.ApiError:
    with pytest.raises(errors.ApiError) as caught:
        check(data, content_type, filename)
    return caught.value


@pytest.mark.parametrize("fmt", FORMATS)
def test_it_accepts_each_allowed_format(fmt):
    data = encode(fmt, (64, 48))
    upload = check(data, CONTENT_TYPES[fmt], f"photo.{fmt.lower()}")
    assert (upload.format, upload.width, upload.height, upload.size) == (fmt, 64, 48, len(data))
    assert upload.content_type == CONTENT_TYPES[fmt]
    # Only the model's input square comes back from the decoder, never the frame.
    assert (upload.input_size, len(upload.pixels)) == (224, 224 * 224 * 3)


@pytest.mark.parametrize("declared", ["image/gif", "image/svg+xml", "text/html", "image/x-icon"])
def test_it_refuses_a_type_off_the_allowlist_before_looking_at_the_bytes(declared):
    error = refusal(encode("PNG"), declared)
    assert (error.status, error.code) == (
        HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    assert not error.flagged
    assert error.message == ContentTypeValidator.message


def test_the_declared_type_is_compared_without_case_or_parameters():
    assert ContentTypeValidator()("Image/PNG; charset=binary") == "image/png"


@pytest.mark.parametrize(
    ("alias", "fmt"),
    [
        ("image/jpg", "JPEG"),
        ("image/pjpeg", "JPEG"),
        ("IMAGE/JPG; q=1", "JPEG"),
        ("image/x-png", "PNG"),
        ("image/apng", "PNG"),
    ],
)
def test_it_accepts_the_aliases_clients_really_send(alias, fmt):
    upload = check(encode(fmt), alias)
    assert upload.format == fmt
    assert upload.content_type == CONTENT_TYPES[fmt]


@pytest.mark.parametrize("undeclared", ["", "application/octet-stream", "Application/Octet-Stream"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_with_no_type_declared_the_bytes_decide(undeclared, fmt):
    upload = check(encode(fmt), undeclared)
    assert upload.format == fmt
    assert upload.content_type == ""


@pytest.mark.parametrize(
    "payload",
    [NOT_IMAGES["html"], NOT_IMAGES["svg"], NOT_IMAGES["pdf"], gif_bytes(), tiff_bytes()],
    ids=["html", "svg", "pdf", "gif", "tiff"],
)
@pytest.mark.parametrize("undeclared", ["", "application/octet-stream"])
def test_undeclared_bytes_of_another_format_are_unsupported_not_a_lie(payload, undeclared):
    error = refusal(payload, undeclared)
    assert (error.status, error.code) == (
        HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    assert not error.flagged
    assert error.examined is not None and error.examined.sha256


def test_undeclared_bytes_of_a_format_taken_off_the_allowlist_are_refused():
    data = encode("WEBP")
    error = refusal_with(data, "", allowed=("image/jpeg", "image/png"))
    assert error.code == "unsupported_media_type"


def refusal_with(data: bytes, content_type: str, *, allowed: tuple[str, ...]) -> errors.ApiError:
    with pytest.raises(errors.ApiError) as caught:
        declared = ContentTypeValidator(allowed)(content_type)
        MagicBytesValidator(allowed)(data, declared)
    return caught.value


def test_a_mismatch_tells_the_client_what_the_bytes_are():
    error = refusal(encode("PNG"), "image/jpg")
    assert error.message == (
        "The file is a PNG image, not image/jpeg as declared; declare image/png, or no type at all."
    )


def test_a_png_sent_as_jpeg_is_a_content_type_mismatch():
    error = refusal(encode("PNG"), "image/jpeg")
    assert (error.status, error.code) == (
        HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
        "content_type_mismatch",
    )
    assert error.flagged


@pytest.mark.parametrize(
    "payload",
    [NOT_IMAGES["html"], NOT_IMAGES["svg"], NOT_IMAGES["pdf"], gif_bytes(), tiff_bytes()],
    ids=["html", "svg", "pdf", "gif", "tiff"],
)
def test_other_formats_sent_as_png_are_a_content_type_mismatch(payload):
    error = refusal(payload, "image/png")
    assert error.code == "content_type_mismatch"


def test_a_zero_byte_file_is_an_invalid_image():
    error = refusal(b"", "image/jpeg")
    assert (error.status, error.code) == (HTTPStatus.UNPROCESSABLE_ENTITY, "invalid_image")


def test_a_truncated_jpeg_is_an_invalid_image():
    data = encode("JPEG", (256, 256))
    error = refusal(data[: len(data) * 2 // 3], "image/jpeg")
    assert error.code == "invalid_image"


def test_a_png_with_a_broken_checksum_is_refused():
    data = bytearray(encode("PNG"))
    data[29] ^= 0xFF  # the IHDR CRC
    error = refusal(bytes(data), "image/png")
    assert error.code == "invalid_image"


@pytest.mark.parametrize(
    ("filename", "fmt"),
    [("hopper.jpg", "PNG"), ("hopper.png", "JPEG"), ("photo.webp", "JPEG"), ("photo.gif", "PNG")],
)
def test_an_image_extension_that_contradicts_the_bytes_is_refused(filename, fmt):
    error = refusal(encode(fmt), CONTENT_TYPES[fmt], filename)
    assert error.code == "content_type_mismatch"


@pytest.mark.parametrize(
    "filename", ["blob", "", "upload.bin", "stereo.mpo", "PHOTO.JPEG", "a.jpe"]
)
def test_a_filename_without_a_contradicting_extension_is_fine(filename):
    FilenameExtensionValidator()(filename, "JPEG")


def test_a_50kb_png_declaring_25000_squared_is_a_decompression_bomb():
    data = png_declaring(25_000, 25_000)
    assert 20_000 < len(data) < 100_000
    with pytest.raises(errors.DecompressionBomb) as refused:
        check(data, "image/png")
    assert refused.value.examined.detected_format == "PNG"


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_dimension_cap_is_inclusive(fmt, settings):
    settings.MAX_IMAGE_DIMENSION = 64
    assert check(encode(fmt, (64, 10)), CONTENT_TYPES[fmt]).width == 64
    error = refusal(encode(fmt, (65, 10)), CONTENT_TYPES[fmt])
    assert (error.status, error.code) == (HTTPStatus.UNPROCESSABLE_ENTITY, "image_too_large")
    error = refusal(encode(fmt, (10, 65)), CONTENT_TYPES[fmt])
    assert error.code == "image_too_large"


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_default_dimension_cap_is_8000(fmt):
    assert check(encode(fmt, (8000, 8)), CONTENT_TYPES[fmt]).width == 8000
    assert refusal(encode(fmt, (8001, 8)), CONTENT_TYPES[fmt]).code == "image_too_large"


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_pixel_cap_is_inclusive(fmt, settings):
    settings.MAX_IMAGE_PIXELS = 64 * 64
    assert check(encode(fmt, (64, 64)), CONTENT_TYPES[fmt]).height == 64
    error = refusal(encode(fmt, (65, 64)), CONTENT_TYPES[fmt])
    assert (error.status, error.code) == (HTTPStatus.UNPROCESSABLE_ENTITY, "decompression_bomb")


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_byte_cap_is_inclusive(fmt, settings):
    data = encode(fmt, (64, 48))
    settings.MAX_UPLOAD_BYTES = len(data)
    assert check(data, CONTENT_TYPES[fmt]).size == len(data)
    settings.MAX_UPLOAD_BYTES = len(data) - 1
    error = refusal(data, CONTENT_TYPES[fmt])
    assert (error.status, error.code) == (HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "file_too_large")


def test_pillow_follows_the_pixel_limit_and_its_bomb_warning_is_an_error():
    limits = DecodeLimits.from_settings(max_pixels=1000)
    configure_pillow(limits)
    assert Image.MAX_IMAGE_PIXELS == 1000
    # 1500 px is over the limit but under twice it, where Pillow would only warn.
    with pytest.raises(Image.DecompressionBombWarning):
        Image.open(io.BytesIO(encode("PNG", (50, 30))))
    with pytest.raises(errors.DecompressionBomb):
        open_image(encode("PNG", (50, 30)), "PNG", limits)


def test_pillow_never_reaches_a_decoder_outside_the_three_formats():
    # GIF bytes handed straight to the opener, past the magic-bytes check.
    with pytest.raises(errors.InvalidImage):
        open_image(gif_bytes(), "PNG", DecodeLimits.from_settings())


def test_a_progressive_jpeg_with_thousands_of_scans_is_refused_before_decoding(settings):
    data = jpeg_with_scans(5000)
    assert len(data) < 100_000
    error = refusal(data, "image/jpeg")
    assert (error.status, error.code) == (HTTPStatus.UNPROCESSABLE_ENTITY, "too_many_scans")
    assert error.flagged


def test_the_scan_cap_is_inclusive(settings):
    settings.MAX_JPEG_SCANS = 12
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # libjpeg may warn about the repeated scan
        assert check(jpeg_with_scans(12), "image/jpeg").format == "JPEG"
    assert refusal(jpeg_with_scans(13), "image/jpeg").code == "too_many_scans"


def test_an_mpo_is_accepted_as_jpeg(corpus_dir):
    data = (corpus_dir / "sugarshack.mpo").read_bytes()
    upload = check(data, "image/jpeg", "sugarshack.mpo")
    assert (upload.format, upload.width, upload.height) == ("JPEG", 640, 480)


def test_a_refusal_carries_what_the_checks_learned(settings):
    settings.MAX_IMAGE_DIMENSION = 10
    data = encode("WEBP", (30, 20))
    with pytest.raises(errors.ImageTooLarge) as refused:
        check(data, "image/webp")
    examined = refused.value.examined
    assert (examined.detected_format, examined.width, examined.height) == ("WEBP", 30, 20)
    assert examined.sha256 == hashlib.sha256(data).hexdigest()


def test_a_cheap_refusal_carries_the_hash_and_the_real_format():
    data = encode("PNG")
    with pytest.raises(errors.ContentTypeMismatch) as refused:
        check(data, "image/jpeg")
    assert refused.value.examined == Examined(hashlib.sha256(data).hexdigest(), "PNG")


def test_the_checked_upload_carries_the_hash_and_the_declared_name():
    data = encode("PNG")
    upload = check(data, "image/png", "../../etc/passwd")
    assert upload.sha256 == hashlib.sha256(data).hexdigest()
    assert upload.filename == "../../etc/passwd"


# --- through the API: what each answer leaves in the audit and the quarantine -------------


def only_audit_row() -> AuditLog:
    return AuditLog.objects.get()


@pytest.mark.django_db
def test_an_accepted_upload_is_audited_with_its_facts(post_upload, exported_model):
    payload = encode("WEBP", (120, 80))
    response = post_upload(payload, "C:\\Users\\me\\holiday.webp", "image/webp")
    assert response.status_code == HTTPStatus.OK
    assert response.json()["image"] == {"format": "WEBP", "width": 120, "height": 80}
    audit = only_audit_row()
    assert (audit.status, audit.outcome, audit.detected_format) == (200, "ok", "WEBP")
    assert (audit.width, audit.height, audit.bytes_received) == (120, 80, len(payload))
    assert audit.sha256 == hashlib.sha256(payload).hexdigest()
    assert audit.declared_content_type == "image/webp"
    assert not FlaggedUpload.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "payload"),
    [
        ("page.html", NOT_IMAGES["html"]),
        ("drawing.svg", NOT_IMAGES["svg"]),
        ("doc.pdf", NOT_IMAGES["pdf"]),
        ("anim.gif", gif_bytes()),
        ("scan.tif", tiff_bytes()),
    ],
)
def test_other_formats_sent_as_png_are_refused(post_upload, name, payload):
    response = post_upload(payload, name, "image/png")
    assert_refused(response, HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "content_type_mismatch")
    assert FlaggedUpload.objects.get().sha256 == only_audit_row().sha256 != ""


@pytest.mark.django_db
def test_a_zero_byte_file_is_refused(post_upload):
    assert_refused(post_upload(b""), HTTPStatus.UNPROCESSABLE_ENTITY, "invalid_image")


@pytest.mark.django_db
def test_a_truncated_jpeg_is_refused_and_quarantined(post_upload):
    data = encode("JPEG", (256, 256))
    response = post_upload(data[: len(data) // 2], "cut.jpg", "image/jpeg")
    assert_refused(response, HTTPStatus.UNPROCESSABLE_ENTITY, "invalid_image")
    audit = only_audit_row()
    assert (audit.detected_format, audit.width, audit.height) == ("JPEG", 256, 256)
    assert FlaggedUpload.objects.get().reason == "invalid_image"


@pytest.mark.django_db
def test_a_png_bomb_is_refused_and_quarantined(post_upload):
    response = post_upload(png_declaring(25_000, 25_000), "bomb.png")
    assert_refused(response, HTTPStatus.UNPROCESSABLE_ENTITY, "decompression_bomb")
    assert FlaggedUpload.objects.get().reason == "decompression_bomb"


@pytest.mark.django_db
def test_an_image_over_the_dimension_cap_is_refused(post_upload):
    response = post_upload(encode("PNG", (8001, 4)))
    assert_refused(response, HTTPStatus.UNPROCESSABLE_ENTITY, "image_too_large")
    audit = only_audit_row()
    assert (audit.width, audit.height) == (8001, 4)


@pytest.mark.django_db
def test_a_jpeg_with_thousands_of_scans_is_refused(post_upload):
    response = post_upload(jpeg_with_scans(5000), "scans.jpg", "image/jpeg")
    assert_refused(response, HTTPStatus.UNPROCESSABLE_ENTITY, "too_many_scans")
    assert FlaggedUpload.objects.get().reason == "too_many_scans"
