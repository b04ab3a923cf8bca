from django.apps import AppConfig
from django.core.signals import request_finished, request_started
from django.db.models.signals import post_delete, post_save, pre_save


class InferenceApiConfig(AppConfig):
    """The HTTP boundary: upload checks, abuse controls, audit and quarantine."""

    name = "inference_api"
    verbose_name = "Inference API"

    def ready(self) -> None:
        from .admission.blocklist import remember_network, update_index
        from .admission.plans import forget_plans
        from .models import BlockedClient, ExtractionFlag, KeyPlan, Plan
        from .operations.checklist import register_checks
        from .upload import memory

        register_checks()
        # The heap a large body used goes back once it is free (upload/memory.py).
        request_started.connect(memory.trim_before_next, dispatch_uid="trim_started")
        request_finished.connect(memory.trim_after_answer, dispatch_uid="trim_finished")
        # Every worker reads the blocklist through its index in the shared
        # cache: a change updates the entries of the networks it touched.
        pre_save.connect(remember_network, sender=BlockedClient, dispatch_uid="blocklist_before")
        post_save.connect(update_index, sender=BlockedClient, dispatch_uid="blocklist_save")
        post_delete.connect(update_index, sender=BlockedClient, dispatch_uid="blocklist_delete")
        # A plan edited here applies here at once, elsewhere within PLAN_CACHE_SECONDS.
        for model in (Plan, KeyPlan, ExtractionFlag):
            uid = f"plans_{model.__name__}"
            post_save.connect(forget_plans, sender=model, dispatch_uid=f"{uid}_save")
            post_delete.connect(forget_plans, sender=model, dispatch_uid=f"{uid}_delete")
