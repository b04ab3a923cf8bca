"""Model-extraction signals, with streams that were run through the API and the real model.

A PRADA-style stream (small perturbations of three seed photos) gets its key
flagged within EXTRACTION_MIN_QUERIES queries; a stream of distinct natural
images (the corpus's valid images, 25 of them variants of one photo, and
scikit-image's photos) does not. With EXTRACTION_DOWNGRADE the flagged key's
answers carry labels only until a person lifts the flag.
"""

import io
from http import HTTPStatus

import numpy as np
import pytest
from PIL import Image, ImageEnhance
from rest_framework_api_key.models import APIKey
from skimage import data

from inference_api.audit.extraction import distinct_images, lift, signals_of
from inference_api.models import AuditLog, ExtractionFlag
from inference_api.testing import corpus
from inference_api.testing.http import ANALYZE, MULTIPART_TYPE, multipart

pytestmark = pytest.mark.django_db
SEEDS = ("coffee", "chelsea", "astronaut")
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "camera", "cat", "hubble_deep_field")


def jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def perturbation_stream(count: int) -> list[bytes]:
    """Copies of three seeds with noise and a brightness change: the queries PRADA detects."""
    rng = np.random.default_rng(1)
    seeds = [np.asarray(Image.fromarray(getattr(data, n)()).convert("RGB")) for n in SEEDS]
    stream = []
    for index in range(count):
        noisy = seeds[index % len(seeds)].astype(np.int16) + rng.integers(-12, 13, (1, 1, 3))
        noisy = noisy + rng.integers(-12, 13, seeds[index % len(seeds)].shape)
        image = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))
        stream.append(jpeg(ImageEnhance.Brightness(image).enhance(1 + rng.uniform(-0.1, 0.1))))
    return stream


def natural_stream(corpus_dir) -> list[bytes]:
    valid = [row for row in corpus.manifest() if row["expected"] == "accept"]
    photos = [jpeg(Image.fromarray(getattr(data, name)()).convert("RGB")) for name in PHOTOS]
    return [corpus.read(row, corpus_dir) for row in valid] + photos


def send(client, key: str, payload: bytes):
    return client.post(
        ANALYZE,
        data=multipart(payload, None, "upload"),
        content_type=MULTIPART_TYPE,
        headers={"X-Api-Key": key},
    )


def test_near_duplicates_group_into_one_image():
    base = 0x0F0F_F0F0_1234_5678
    fingerprints = np.array([base, base ^ 0b111, base ^ 0b1, ~base & (2**64 - 1)], dtype=np.uint64)
    assert distinct_images(fingerprints, near_bits=8) == 2
    assert distinct_images(fingerprints, near_bits=0) == 4


def test_near_duplicates_of_near_duplicates_are_one_image():
    # a and c differ in 16 bits, each 8 from b: one image, reached through b.
    a, b, c = 0, 0xFF, 0xFFFF
    assert distinct_images(np.array([a, c, b], dtype=np.uint64), near_bits=8) == 1
    assert distinct_images(np.array([a, c], dtype=np.uint64), near_bits=8) == 2


def test_the_signals_count_queries_labels_and_refusals():
    entries = ["00000000000000ff|cup", "00000000000000fe|cup", "ffffffffffffff00|cat", "-"]
    signals = signals_of(entries, near_bits=8)
    assert (signals.queries, signals.classified, signals.refusals) == (4, 3, 1)
    assert (signals.distinct_images, signals.distinct_labels) == (2, 2)
    assert signals.queries_per_image == 1.5
    assert signals.refusal_rate == 0.25


def test_a_perturbation_stream_is_flagged_within_the_minimum(client, exported_model, settings):
    settings.EXTRACTION_MIN_QUERIES = 20
    api_key, key = APIKey.objects.create_key(name="scraper")
    sent = 0
    for payload in perturbation_stream(30):
        assert send(client, key, payload).status_code == HTTPStatus.OK
        sent += 1
        if ExtractionFlag.objects.exists():
            break
    flag = ExtractionFlag.objects.get()
    assert sent == settings.EXTRACTION_MIN_QUERIES
    assert (flag.subject, flag.api_key_id) == (f"key:{api_key.pk}", api_key.pk)
    assert flag.distinct_images == len(SEEDS)
    assert flag.queries_per_image >= settings.EXTRACTION_QUERIES_PER_IMAGE
    assert not flag.downgraded
    assert AuditLog.objects.exclude(fingerprint="").count() == sent


def test_a_stream_of_natural_images_is_not_flagged(client, exported_model, corpus_dir):
    _, key = APIKey.objects.create_key(name="photographer")
    answers = [send(client, key, payload).status_code for payload in natural_stream(corpus_dir)]
    assert answers.count(HTTPStatus.OK) >= 75
    assert not ExtractionFlag.objects.exists()


def test_a_downgraded_key_gets_labels_only_until_the_flag_is_lifted(
    client, exported_model, settings
):
    settings.EXTRACTION_DOWNGRADE = True
    _, key = APIKey.objects.create_key(name="scraper")
    for payload in perturbation_stream(settings.EXTRACTION_MIN_QUERIES):
        send(client, key, payload)
    flag = ExtractionFlag.objects.get()
    assert flag.downgraded
    predictions = send(client, key, perturbation_stream(1)[0]).json()["predictions"]
    assert all(set(p) == {"label", "class_index"} for p in predictions)
    lift(flag, user=None)
    predictions = send(client, key, perturbation_stream(1)[0]).json()["predictions"]
    assert all("score" in p for p in predictions)
    assert ExtractionFlag.objects.get().lifted_at is not None  # its window started over
