"""The console's usage page and its one-click actions on a key, each behind a confirmation.

From the usage page a reviewer changes a key's plan, revokes a key, or
lifts an extraction flag. Each link opens a confirmation page that says what
will happen; only its POST acts, and the action is written to the admin's
own history (LogEntry) under the reviewer's name.
"""

from django import forms
from django.contrib import messages
from django.contrib.admin import ModelAdmin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from rest_framework_api_key.models import APIKey

from ..audit import extraction
from ..models import ExtractionFlag, KeyPlan, Plan
from . import charts, usage

USAGE_TEMPLATE = "admin/inference_api/usage.html"
CONFIRM_TEMPLATE = "admin/inference_api/key_confirmation.html"


def usage_view(model_admin: ModelAdmin, request: HttpRequest) -> TemplateResponse:
    """GET the usage page: staff who may view usage rows."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    days = usage.window_days()
    series = usage.usage_by_key(days)
    chart = charts.stacked_bars(
        slot_labels=[day.strftime("%d %b") for day in days],
        series=[charts.Bars(s.key, s.label, s.values) for s in series],
        title=f"Requests by API key, last {usage.DAYS} days (UTC)",
    )
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Usage and plans",
        "opts": model_admin.model._meta,
        "chart": chart,
        "legend": [(s.key, s.label, sum(s.values)) for s in series],
        "allowances": usage.allowances_in_use(),
        "flags": usage.open_flags(),
        "may_change_keys": request.user.has_perm("rest_framework_api_key.change_apikey"),
        "may_lift": request.user.has_perm("inference_api.change_extractionflag"),
    }
    return TemplateResponse(request, USAGE_TEMPLATE, context)


class PlanChoiceForm(forms.Form):
    plan = forms.ModelChoiceField(queryset=Plan.objects.all(), empty_label=None)


def change_plan_view(model_admin: ModelAdmin, request: HttpRequest, key_id: str) -> HttpResponse:
    """Confirm, then put the key on another plan."""
    api_key = _key(request, key_id)
    current = KeyPlan.objects.filter(api_key=api_key).select_related("plan").first()
    form = PlanChoiceForm(request.POST or None, initial={"plan": current.plan if current else None})
    if request.method == "POST" and form.is_valid():
        plan = form.cleaned_data["plan"]
        KeyPlan.objects.update_or_create(api_key=api_key, defaults={"plan": plan})
        _log(model_admin, request, api_key, f"Plan changed to {plan.name} from the console.")
        messages.success(request, f"{api_key.name} is now on the {plan.name} plan.")
        return _back(model_admin)
    was = current.plan.name if current else "the default plan"
    return _confirm(
        model_admin, request, form=form, action="Change the plan",
        what=f"Put the API key {api_key.name!r} ({api_key.prefix}), now on {was}, on:",
    )


def revoke_view(model_admin: ModelAdmin, request: HttpRequest, key_id: str) -> HttpResponse:
    """Confirm, then revoke the key: its next request is refused with 401."""
    api_key = _key(request, key_id)
    if request.method == "POST":
        api_key.revoked = True
        api_key.save(update_fields=["revoked"])
        _log(model_admin, request, api_key, "Revoked from the console.")
        messages.success(request, f"{api_key.name} is revoked.")
        return _back(model_admin)
    return _confirm(
        model_admin, request, action="Revoke the key",
        what=f"Revoke the API key {api_key.name!r} ({api_key.prefix}): every request it "
        "makes from now on is refused with 401 invalid_api_key. This cannot be undone.",
    )


def lift_view(model_admin: ModelAdmin, request: HttpRequest, flag_id: int) -> HttpResponse:
    """Confirm, then lift an extraction flag (and its downgrade)."""
    if not request.user.has_perm("inference_api.change_extractionflag"):
        raise PermissionDenied
    flag = get_object_or_404(ExtractionFlag, pk=flag_id, lifted_at__isnull=True)
    if request.method == "POST":
        extraction.lift(flag, request.user)
        _log(model_admin, request, flag, "Lifted from the console.")
        messages.success(request, f"The flag on {flag.subject} is lifted.")
        return _back(model_admin)
    downgrade = " Its answers carry scores again." if flag.downgraded else ""
    return _confirm(
        model_admin, request, action="Lift the flag",
        what=f"Lift the extraction flag on {flag.subject} ({flag.queries_per_image:g} queries "
        f"per distinct image over {flag.queries} queries); its window of queries starts "
        f"over.{downgrade}",
    )


def _key(request: HttpRequest, key_id: str) -> APIKey:
    if not request.user.has_perm("rest_framework_api_key.change_apikey"):
        raise PermissionDenied
    try:
        return APIKey.objects.get(pk=key_id)
    except APIKey.DoesNotExist:
        raise Http404("No such API key.") from None


def _confirm(model_admin, request, *, action: str, what: str, form=None) -> TemplateResponse:
    context = {
        **model_admin.admin_site.each_context(request),
        "title": action,
        "opts": model_admin.model._meta,
        "action": action,
        "what": what,
        "form": form,
    }
    return TemplateResponse(request, CONFIRM_TEMPLATE, context)


def _log(model_admin: ModelAdmin, request: HttpRequest, obj, message: str) -> None:
    """The admin's own history of `obj`: who did what, from the console."""
    model_admin.log_change(request, obj, message)


def _back(model_admin: ModelAdmin) -> HttpResponseRedirect:
    return HttpResponseRedirect(reverse("admin:inference_api_usage"))
