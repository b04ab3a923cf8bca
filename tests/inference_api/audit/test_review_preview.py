"""A flagged upload is reviewed without touching its bytes: what the model saw, as our own PNG.

Real uploads through the API (the decoder sandbox, real Pillow); then the
reviewer's pages. No page and no response of the review serves the client's
bytes inline: only the confirmed download, as an attachment.
"""

import io
from http import HTTPStatus

import pytest
from django.urls import reverse
from PIL import Image

from inference_api.models import FlaggedUpload
from inference_api.testing.factories import use_tmp_quarantine
from inference_api.testing.images.photos import jpeg
from inference_api.testing.images.uploads import png_declaring

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def quarantine(settings, tmp_path):
    return use_tmp_quarantine(settings, tmp_path / "quarantine")


def test_a_lie_about_the_type_is_reviewed_by_what_the_model_saw(post_upload, admin_client):
    photo = jpeg((640, 480))
    assert post_upload(photo, "photo", "image/png").status_code == HTTPStatus.UNSUPPORTED_MEDIA_TYPE
    flagged = FlaggedUpload.objects.get()
    assert flagged.file.preview_name.endswith(".png")

    page = admin_client.get(reverse("admin:inference_api_flaggedupload_change", args=[flagged.pk]))
    preview_url = reverse("admin:inference_api_flaggedupload_preview", args=[flagged.pk])
    assert f'<img class="model-input" src="{preview_url}"' in page.content.decode()
    assert photo not in page.content

    preview = admin_client.get(preview_url)
    assert preview["Content-Type"] == "image/png"
    assert preview["X-Content-Type-Options"] == "nosniff"
    shown = b"".join(preview.streaming_content)
    assert shown != photo and photo[:64] not in shown
    with Image.open(io.BytesIO(shown)) as image:
        assert (image.format, image.size, image.mode) == ("PNG", (224, 224), "RGB")


def test_a_bomb_is_reviewed_by_what_the_walk_found(post_upload, admin_client):
    bomb = png_declaring(25_000, 25_000, zero_bytes=100_000)
    assert post_upload(bomb, "bomb.png", "image/png").status_code == 422
    flagged = FlaggedUpload.objects.get()
    assert flagged.file.preview_name == ""
    page = admin_client.get(reverse("admin:inference_api_flaggedupload_change", args=[flagged.pk]))
    html = page.content.decode()
    assert "The walk found: PNG, 25000 x 25000 px declared" in html
    assert "decompression_bomb" in html
    preview_url = reverse("admin:inference_api_flaggedupload_preview", args=[flagged.pk])
    assert admin_client.get(preview_url).status_code == HTTPStatus.NOT_FOUND
