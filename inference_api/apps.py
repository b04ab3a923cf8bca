from django.apps import AppConfig


class InferenceApiConfig(AppConfig):
    """The HTTP boundary: upload checks, abuse controls, audit and quarantine."""

    name = "inference_api"
    verbose_name = "Inference API"

    def ready(self) -> None:
        from .checks import register_checks

        register_checks()
