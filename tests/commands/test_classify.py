"""manage.py classify: the API's verdict and predictions for local files."""

import io

import pytest
from django.core.management import CommandError, call_command
from PIL import Image
from skimage import data

from inference_api.testing.images.uploads import encode, jpeg_with_scans


@pytest.fixture
def coffee(tmp_path):
    path = tmp_path / "coffee.jpg"
    Image.fromarray(data.coffee()).save(path, "JPEG", quality=90)
    return path


def run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("classify", *map(str, args), stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def run_refused(*args) -> tuple[str, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("classify", *map(str, args), stdout=out, stderr=err)
    return out.getvalue(), err.getvalue(), str(caught.value)


def test_it_prints_the_verdict_and_the_predictions(coffee, exported_model):
    out, _ = run(coffee)
    lines = out.splitlines()
    assert lines[0].startswith(f"{coffee}: accepted JPEG 600x400,")
    assert len(lines) == 6
    assert lines[1].split()[1] == "espresso"


def test_a_refused_file_is_reported_with_the_api_code_and_fails_the_command(
    coffee, tmp_path, exported_model
):
    spoof = tmp_path / "spoof.jpg"
    spoof.write_bytes(encode("PNG"))
    out, _, error = run_refused(coffee, spoof)
    assert f"{coffee}: accepted" in out
    assert f"{spoof}: refused 415 content_type_mismatch:" in out
    assert error == "1 of 2 file(s) would be refused by the API"


def test_hostile_files_are_refused_without_the_model(tmp_path):
    scans = tmp_path / "scans.jpg"
    scans.write_bytes(jpeg_with_scans(5000))
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    out, _, _ = run_refused(scans, empty)
    assert f"{scans}: refused 422 too_many_scans:" in out
    assert f"{empty}: refused 422 invalid_image:" in out


def test_the_declared_type_can_be_given(tmp_path):
    path = tmp_path / "upload.bin"
    path.write_bytes(encode("GIF", mode="P"))
    out, _, _ = run_refused(path, "--content-type", "image/png")
    assert f"{path}: refused 415 content_type_mismatch:" in out


def test_a_file_over_the_byte_cap_is_refused_unread(tmp_path, settings):
    path = tmp_path / "big.png"
    path.write_bytes(encode("PNG", (300, 300)))
    settings.MAX_UPLOAD_BYTES = path.stat().st_size - 1
    out, _, _ = run_refused(path)
    assert f"{path}: refused 413 file_too_large:" in out


def test_what_is_not_a_readable_file_is_reported(tmp_path):
    _, err, error = run_refused(tmp_path / "missing.jpg", tmp_path, "/dev/zero")
    assert err.count("cannot read") == 3
    assert error == "3 of 3 file(s) would be refused by the API"
