from django.apps import AppConfig
from django.core.signals import request_finished, request_started
from django.db.models.signals import post_delete, post_save


class InferenceApiConfig(AppConfig):
    """The HTTP boundary: upload checks, abuse controls, audit and quarantine."""

    name = "inference_api"
    verbose_name = "Inference API"

    def ready(self) -> None:
        from .admission.blocklist import clear_blocklist_cache
        from .models import BlockedClient
        from .operations.checklist import register_checks
        from .upload import memory

        register_checks()
        # The heap a large body used goes back once it is free (upload/memory.py).
        request_started.connect(memory.trim_before_next, dispatch_uid="trim_started")
        request_finished.connect(memory.trim_after_answer, dispatch_uid="trim_finished")
        # Every worker reads the blocklist through the shared cache: a change drops it.
        post_save.connect(
            clear_blocklist_cache, sender=BlockedClient, dispatch_uid="blocklist_save"
        )
        post_delete.connect(
            clear_blocklist_cache, sender=BlockedClient, dispatch_uid="blocklist_delete"
        )
