"""manage.py classify FILE...: what the API would answer for local files.

Each file goes through the same checks and decoder (`validators.check_upload`,
in a budgeted decoder process) and model as an upload to POST /api/v1/analyze/,
declared with the type its extension suggests (as curl or a browser would),
or with --content-type. The verdict and the predictions are printed for
each file. The command exits non-zero when any file is refused, so a script
can tell "all of these would be accepted" from "some would not".
"""

import mimetypes
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from analysis.errors import ModelUnavailable
from analysis.inference import classify_square
from analysis.model_store import LoadedModel, get_model
from inference_api import errors
from inference_api.upload.checks import check_upload


class Command(BaseCommand):
    help = "Run the API's upload checks and the model on local image files; print verdicts."

    def add_arguments(self, parser) -> None:
        parser.add_argument("files", nargs="+", metavar="FILE")
        parser.add_argument(
            "--content-type",
            help="declare this type for every file (default: guessed from the extension)",
        )

    def handle(self, *args, files: list[str], content_type: str | None, **options) -> None:
        self.model: LoadedModel | None = None
        refused = sum(not self.classify_file(Path(name), content_type) for name in files)
        if refused:
            raise CommandError(f"{refused} of {len(files)} file(s) would be refused by the API")

    def classify_file(self, path: Path, content_type: str | None) -> bool:
        """Print the verdict for one file; True when the API would accept it."""
        declared = content_type or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        try:
            upload = check_upload(read_capped(path), content_type=declared, filename=path.name)
        except ModelUnavailable as exc:
            raise CommandError(f"the model is not available: {exc}") from exc
        except OSError as exc:
            self.stderr.write(f"{path}: cannot read: {exc.strerror or exc}")
            return False
        except errors.ApiError as exc:
            self.stdout.write(f"{path}: refused {exc.status} {exc.code}: {exc.message}")
            return False
        result = classify_square(self.loaded_model(), upload.square())
        self.stdout.write(
            self.style.SUCCESS(f"{path}: accepted")
            + f" {upload.format} {upload.width}x{upload.height}, {upload.size} bytes,"
            f" sha256 {upload.sha256}"
        )
        for prediction in result.predictions:
            self.stdout.write(
                f"  {prediction.score:.4f}  {prediction.label} ({prediction.class_index})"
            )
        return True

    def loaded_model(self) -> LoadedModel:
        if self.model is None:
            try:
                self.model = get_model()
            except ModelUnavailable as exc:
                raise CommandError(f"the model is not available: {exc}") from exc
        return self.model


def read_capped(path: Path) -> bytes:
    """The file's bytes, reading no more than the API's byte cap allows.

    Raises FileTooLarge past the cap (without reading the rest), and OSError
    for what is not a readable regular file (a device would never end).
    """
    if not path.is_file():
        raise OSError(f"not a regular file: {path}")
    limit = settings.MAX_UPLOAD_BYTES
    with path.open("rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise errors.FileTooLarge()
    return data
