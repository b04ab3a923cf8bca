"""The admin of plans, usage and extraction flags, and the API key admin with its plan.

Registered from inference_api/admin.py. Usage rows and flags are written by
the audit step: read-only here (a flag is lifted from the usage page, behind
a confirmation). The API key admin is djangorestframework-api-key's own,
with the key's plan inline.
"""

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import path
from rest_framework_api_key.admin import APIKeyModelAdmin
from rest_framework_api_key.models import APIKey

from ..models import ExtractionFlag, KeyPlan, Plan, UsageDay
from . import keys
from .readonly import ReadOnlyAdmin


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    """Plans are edited here; every worker applies an edit within PLAN_CACHE_SECONDS."""

    list_display = (
        "name", "rate_per_minute", "requests_per_day", "requests_per_month",
        "megapixels_per_day", "megapixels_per_month", "top_k", "score_decimals",
    )
    search_fields = ("name",)


@admin.register(UsageDay)
class UsageDayAdmin(ReadOnlyAdmin):
    """Read-only: one row per key, UTC day and outcome, written by the audit step."""

    list_display = ("day", "api_key_id", "outcome", "requests", "megapixels")
    list_filter = ("day", "outcome")
    search_fields = ("=api_key_id",)
    show_full_result_count = False

    def get_urls(self):
        site = self.admin_site
        return [
            path("page/", site.admin_view(self.usage_view), name="inference_api_usage"),
            path(
                "key/<path:key_id>/plan/",
                site.admin_view(self.plan_view),
                name="inference_api_key_plan",
            ),
            path(
                "key/<path:key_id>/revoke/",
                site.admin_view(self.revoke_view),
                name="inference_api_key_revoke",
            ),
            path(
                "flag/<int:flag_id>/lift/",
                site.admin_view(self.lift_view),
                name="inference_api_flag_lift",
            ),
            *super().get_urls(),
        ]

    def usage_view(self, request: HttpRequest) -> HttpResponse:
        return keys.usage_view(self, request)

    def plan_view(self, request: HttpRequest, key_id: str) -> HttpResponse:
        return keys.change_plan_view(self, request, key_id)

    def revoke_view(self, request: HttpRequest, key_id: str) -> HttpResponse:
        return keys.revoke_view(self, request, key_id)

    def lift_view(self, request: HttpRequest, flag_id: int) -> HttpResponse:
        return keys.lift_view(self, request, flag_id)


@admin.register(ExtractionFlag)
class ExtractionFlagAdmin(ReadOnlyAdmin):
    """Read-only evidence; lifted from the usage page."""

    list_display = (
        "created_at", "subject", "queries", "distinct_images", "queries_per_image",
        "label_spread", "refusal_rate", "downgraded", "lifted_at",
    )
    list_filter = ("downgraded", ("lifted_at", admin.EmptyFieldListFilter))


class KeyPlanInline(admin.StackedInline):
    model = KeyPlan
    can_delete = True
    max_num = 1
    verbose_name = "plan"


admin.site.unregister(APIKey)


@admin.register(APIKey)
class PlannedAPIKeyAdmin(APIKeyModelAdmin):
    """djangorestframework-api-key's admin, with the key's plan."""

    inlines = (KeyPlanInline,)
