"""Tensor in, typed predictions out."""

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from PIL import Image

from .model_store import LoadedModel
from .preprocessing import preprocess, to_tensor

DEFAULT_TOP_K = 5


@dataclass(frozen=True)
class Prediction:
    """One class and the model's probability for it."""

    label: str
    class_index: int
    score: float

    def as_dict(self) -> dict:
        return {"label": self.label, "class_index": self.class_index, "score": round(self.score, 6)}


@dataclass(frozen=True)
class Classification:
    """The top-k predictions for one image, and what they cost."""

    predictions: list[Prediction]
    preprocess_ms: float
    inference_ms: float


def predict(
    model: LoadedModel, batch: torch.Tensor, top_k: int = DEFAULT_TOP_K
) -> list[Prediction]:
    """Top-k predictions for a preprocessed 1x3xHxW batch."""
    with torch.inference_mode():
        probabilities = model.module(batch).softmax(dim=-1)[0]
    scores, indices = probabilities.topk(min(top_k, probabilities.numel()))
    labels = model.metadata.labels
    return [
        Prediction(label=labels[i], class_index=i, score=float(s))
        for s, i in zip(scores.tolist(), indices.tolist(), strict=True)
    ]


def classify(model: LoadedModel, image: Image.Image, top_k: int = DEFAULT_TOP_K) -> Classification:
    """Preprocess `image` from the model's metadata and run the forward pass."""
    return _timed(model, lambda: preprocess(image, model.metadata), top_k)


def classify_square(
    model: LoadedModel, square: Image.Image, top_k: int = DEFAULT_TOP_K
) -> Classification:
    """Run the forward pass on the model's input square (already resized and cropped)."""
    if square.size != (model.metadata.input_size,) * 2 or square.mode != "RGB":
        raise ValueError(f"expected an RGB square of {model.metadata.input_size} px")
    return _timed(model, lambda: to_tensor(square, model.metadata), top_k)


def _timed(
    model: LoadedModel, make_batch: Callable[[], torch.Tensor], top_k: int
) -> Classification:
    started = time.perf_counter()
    batch = make_batch()
    prepared = time.perf_counter()
    predictions = predict(model, batch, top_k)
    done = time.perf_counter()
    return Classification(
        predictions=predictions,
        preprocess_ms=(prepared - started) * 1000,
        inference_ms=(done - prepared) * 1000,
    )
