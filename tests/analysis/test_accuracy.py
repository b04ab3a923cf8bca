"""The real model, fed as its metadata says, names real photographs correctly.

The photographs are scikit-image's bundled samples (no download).
"""

from dataclasses import replace

import pytest
from PIL import Image
from skimage import data

from analysis.inference import classify
from analysis.model_store import LoadedModel

CAT_CLASSES = {"tabby", "tiger cat", "Persian cat", "Siamese cat", "Egyptian cat"}
ROCKET_CLASSES = {"missile", "projectile", "space shuttle"}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def photo(name: str) -> Image.Image:
    return Image.fromarray(getattr(data, name)()).convert("RGB")


def top1(model: LoadedModel, name: str):
    return classify(model, photo(name)).predictions[0]


def test_it_sees_a_cat_in_chelsea(model):
    assert top1(model, "chelsea").label in CAT_CLASSES


def test_it_sees_an_espresso_in_coffee_with_high_confidence(model):
    top = top1(model, "coffee")
    assert top.label == "espresso"
    assert top.score >= 0.9


def test_it_sees_a_missile_or_projectile_in_rocket(model):
    assert top1(model, "rocket").label in ROCKET_CLASSES


def test_the_usual_imagenet_normalisation_is_worse_for_this_network(model):
    right = top1(model, "coffee")
    wrong_metadata = replace(model.metadata, mean=IMAGENET_MEAN, std=IMAGENET_STD)
    wrong = top1(replace(model, metadata=wrong_metadata), "coffee")
    assert wrong.score < right.score - 0.1


@pytest.mark.parametrize("mode", ["L", "CMYK", "P"])
def test_it_still_sees_the_espresso_after_a_mode_round_trip(model, mode):
    image = photo("coffee").convert(mode).convert("RGB")
    assert classify(model, image).predictions[0].label == "espresso"


def test_it_returns_five_predictions_in_descending_order(model):
    predictions = classify(model, photo("coffee")).predictions
    scores = [p.score for p in predictions]
    assert len(predictions) == 5
    assert scores == sorted(scores, reverse=True)
    assert all(model.metadata.labels[p.class_index] == p.label for p in predictions)
