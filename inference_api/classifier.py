"""Steps 3 to 5 of the request pipeline for one received upload: check, decode, classify.

The classifier owns what the view must not: the served model, the
checks and the decode (run in a bounded decoder process, which hands back
only the model's input square), the inference slot that sheds load, and the
metrics of each stage.
"""

from dataclasses import dataclass

from analysis.inference import Prediction, classify_square
from analysis.model_store import LoadedModel, get_model

from .concurrency import inference_slot
from .context import Classified, Examined, Received
from .imaging.fingerprint import fingerprint
from .imaging.limits import ModelInput
from .operations import metrics
from .upload.checks import CheckedUpload, check_upload


@dataclass(frozen=True)
class ClassifiedUpload:
    """One upload, checked, decoded and classified: everything the answer and the audit need."""

    received: Received
    upload: CheckedUpload
    model: LoadedModel
    # The model's top predictions; what an answer shows of them is output.shown_predictions'.
    predictions: list[Prediction]
    decode_ms: float
    inference_ms: float
    fingerprint: str = ""

    @property
    def examined(self) -> Examined:
        return self.upload.examined

    @property
    def classified(self) -> Classified:
        top = self.predictions[0]
        return Classified(
            top.label, round(top.score, 6), self.model.metadata.version, self.fingerprint
        )


def check(received: Received, *, model_input: ModelInput | None = None) -> CheckedUpload:
    """Steps 3 and 4: the upload's checks and its bounded decode (see `upload.checks`).

    A refusal carries what the checks learned of the bytes (`ApiError.examined`).
    """
    return check_upload(
        received.data,
        content_type=received.content_type,
        filename=received.filename,
        model_input=model_input,
    )


def classify_upload(received: Received) -> ClassifiedUpload:
    """Check, decode and classify one upload with the served model."""
    upload = check(received)
    model = get_model()
    square = upload.square()
    with inference_slot(), metrics.inference_in_flight():
        result = classify_square(model, square)
    metrics.observe_analysis(
        model=model, decode_ms=upload.decode_ms, inference_ms=result.inference_ms
    )
    return ClassifiedUpload(
        received=received,
        upload=upload,
        model=model,
        predictions=list(result.predictions),
        fingerprint=fingerprint(square),
        decode_ms=upload.decode_ms,
        inference_ms=result.inference_ms,
    )
