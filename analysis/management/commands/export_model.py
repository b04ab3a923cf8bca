"""manage.py export_model: build the TorchScript file and store it.

A stored model is replaced only with `--yes`: without it the command says what
it would replace and stops, since a new file's hash no longer matches the
MODEL_SHA256 pinned in production and every worker would then refuse it.
"""

from django.conf import settings
from django.core.files.storage import storages
from django.core.management.base import BaseCommand, CommandError

from analysis.export import export_model


class Command(BaseCommand):
    help = "Export EfficientNet-Lite0 (TorchScript, metadata inside) to the models storage."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--name", default=settings.MODEL_FILE_NAME, help="file name in storage")
        # Not --version: every Django command already has that one (Django's own version).
        parser.add_argument(
            "--model-version",
            default=None,
            help="the version written into the file's metadata (default: weights + torch)",
        )
        when_stored = parser.add_mutually_exclusive_group()
        when_stored.add_argument(
            "--if-missing", action="store_true", help="do nothing when the file is already stored"
        )
        when_stored.add_argument(
            "--yes", action="store_true",
            help="replace a stored file (without it, only say that it would)",
        )

    def handle(
        self, *args, name: str, model_version: str | None, if_missing: bool, yes: bool, **options
    ) -> None:
        storage = storages["models"]
        if storage.exists(name):
            if if_missing:
                self.stdout.write(f"{name} is already in the models storage; nothing to do.")
                return
            if not yes:
                self.stdout.write(
                    f"Dry run: {name} is already in the models storage and would be replaced, "
                    "with its recorded hash; a pinned MODEL_SHA256 would then refuse it. "
                    "Run again with --yes to replace it."
                )
                return
        try:
            result = export_model(storage=storage, name=name, version=model_version)
        except Exception as exc:
            raise CommandError(f"export failed: {exc}") from exc
        self.stdout.write(f"Exported {result.name} ({result.size} bytes)")
        if model_version is not None:
            self.stdout.write(f"Model version {model_version}")
        self.stdout.write(f"SHA-256 {result.sha256}")
        self.stdout.write(
            self.style.SUCCESS(f"Pin it in production with MODEL_SHA256={result.sha256}")
        )
