"""manage.py verify_model: fetch, check, load and try the model like the server does."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from PIL import Image

from analysis.errors import ModelUnavailable
from analysis.inference import classify
from analysis.model_store import load_model

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "espresso.jpg"
SAMPLE_LABEL = "espresso"


class Command(BaseCommand):
    help = "Fetch the model from storage, check its SHA-256, load it and classify a bundled photo."

    def handle(self, *args, **options) -> None:
        try:
            model = load_model()
        except ModelUnavailable as exc:
            raise CommandError(f"model refused: {exc}") from exc
        self.stdout.write(
            f"Model {model.metadata.version}, SHA-256 {model.sha256}: hash verified, loaded"
        )
        with Image.open(SAMPLE) as image:
            result = classify(model, image.convert("RGB"))
        for prediction in result.predictions:
            self.stdout.write(
                f"  {prediction.score:.4f}  {prediction.label} ({prediction.class_index})"
            )
        top = result.predictions[0]
        if top.label != SAMPLE_LABEL:
            raise CommandError(
                f"sample photo classified as {top.label!r}, expected {SAMPLE_LABEL!r}"
            )
        self.stdout.write(
            self.style.SUCCESS(f"OK: the sample photo is {top.label} ({top.score:.3f})")
        )
