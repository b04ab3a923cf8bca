from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class InferenceApiConfig(AppConfig):
    """The HTTP boundary: upload checks, abuse controls, audit and quarantine."""

    name = "inference_api"
    verbose_name = "Inference API"

    def ready(self) -> None:
        from .admission.blocklist import clear_blocklist_cache
        from .admission.plans import forget_plans
        from .models import BlockedClient, ExtractionFlag, KeyPlan, Plan
        from .operations.checklist import register_checks

        register_checks()
        # Every worker reads the blocklist through the shared cache: a change drops it.
        post_save.connect(
            clear_blocklist_cache, sender=BlockedClient, dispatch_uid="blocklist_save"
        )
        post_delete.connect(
            clear_blocklist_cache, sender=BlockedClient, dispatch_uid="blocklist_delete"
        )
        # A plan edited here applies here at once, elsewhere within PLAN_CACHE_SECONDS.
        for model in (Plan, KeyPlan, ExtractionFlag):
            uid = f"plans_{model.__name__}"
            post_save.connect(forget_plans, sender=model, dispatch_uid=f"{uid}_save")
            post_delete.connect(forget_plans, sender=model, dispatch_uid=f"{uid}_delete")
