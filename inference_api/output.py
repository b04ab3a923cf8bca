"""What of the model's output an answer may carry: the plan's output policy.

The model's top predictions are cut to the plan's number of labels and
their scores rounded to its precision, or dropped (labels only). Nothing
else of the model's output (no logits, no embeddings, no scores past the
plan's) ever leaves the service: a client harvesting answers to copy the
model gets no more than its plan shows.
"""

from analysis.inference import Prediction

from .admission.plans import Terms


def shown_predictions(predictions: list[Prediction], terms: Terms) -> list[dict]:
    """The predictions an answer carries under `terms`, best first."""
    shown = []
    for prediction in predictions[: terms.top_k]:
        item = {"label": prediction.label, "class_index": prediction.class_index}
        if not terms.labels_only:
            item["score"] = round(prediction.score, terms.decimals)
        shown.append(item)
    return shown
