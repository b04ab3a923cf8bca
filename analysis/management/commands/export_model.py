"""manage.py export_model: build the TorchScript file and store it."""

from django.conf import settings
from django.core.files.storage import storages
from django.core.management.base import BaseCommand, CommandError

from analysis.export import export_model


class Command(BaseCommand):
    help = "Export EfficientNet-Lite0 (TorchScript, metadata inside) to the models storage."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--name", default=settings.MODEL_FILE_NAME, help="file name in storage")
        parser.add_argument(
            "--if-missing", action="store_true", help="do nothing when the file is already stored"
        )

    def handle(self, *args, name: str, if_missing: bool, **options) -> None:
        storage = storages["models"]
        if if_missing and storage.exists(name):
            self.stdout.write(f"{name} is already in the models storage; nothing to do.")
            return
        try:
            result = export_model(storage=storage, name=name)
        except Exception as exc:
            raise CommandError(f"export failed: {exc}") from exc
        self.stdout.write(f"Exported {result.name} ({result.size} bytes)")
        self.stdout.write(f"SHA-256 {result.sha256}")
        self.stdout.write(
            self.style.SUCCESS(f"Pin it in production with MODEL_SHA256={result.sha256}")
        )
