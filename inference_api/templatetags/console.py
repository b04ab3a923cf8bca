"""Template tags of the reviewer's console."""

from django import template

from inference_api.console.pages import review_queue as queue_for

register = template.Library()


@register.inclusion_tag("admin/inference_api/review_queue.html", takes_context=True)
def review_queue(context) -> dict:
    """What needs review first, for the admin's landing page."""
    request = context["request"]
    return {
        "items": queue_for(request),
        "may_overview": request.user.has_perm("inference_api.view_auditlog"),
        "may_usage": request.user.has_perm("inference_api.view_usageday"),
    }
