"""POST /api/v1/analyze/ end to end in-process: the real model behind the view."""

import io
from http import HTTPStatus

import pytest
from PIL import Image
from skimage import data


def jpeg_of(name: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(getattr(data, name)()).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


@pytest.mark.django_db
def test_it_classifies_a_photo_with_the_documented_body(post_upload, exported_model):
    response = post_upload(jpeg_of("coffee"), "photo.jpg", "image/jpeg")
    assert response.status_code == HTTPStatus.OK
    body = response.json()
    assert set(body) == {"predictions", "model", "image", "request_id", "timing_ms"}
    assert body["predictions"][0]["label"] == "espresso"
    assert len(body["predictions"]) == 5
    assert set(body["predictions"][0]) == {"label", "class_index", "score"}
    assert body["model"] == {
        "name": "efficientnet-lite0",
        "version": body["model"]["version"],
        "sha256": exported_model,
    }
    assert body["image"] == {"format": "JPEG", "width": 600, "height": 400}
    assert body["request_id"] == response["X-Request-ID"]
    assert set(body["timing_ms"]) == {"decode", "inference", "total"}
    assert body["timing_ms"]["total"] >= body["timing_ms"]["inference"] > 0


