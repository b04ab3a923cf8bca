"""URL routes. The API lives under /api/v1/; the admin under /admin/."""

from django.contrib import admin
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from inference_api.console.site import use_staff_admin_site
from inference_api.probes.health import healthz, readyz
from inference_api.probes.metrics import metrics_view
from inference_api.views import AnalyzeView

# Staff log in with a TOTP token too when ADMIN_REQUIRE_2FA is on.
use_staff_admin_site(admin.site)

urlpatterns = [
    path("api/v1/analyze/", AnalyzeView.as_view(), name="analyze"),
    path("admin/", admin.site.urls),
    # No trailing slash: production's SECURE_REDIRECT_EXEMPT matches these exactly.
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script as a file of its own, and
    # the template takes its style from a file: the page runs under the
    # Content-Security-Policy, with no inline script or style.
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(
            url_name="schema", template_name="inference_api/swagger_ui.html"
        ),
        name="api-docs",
    ),
]

handler400 = "inference_api.exceptions.handler400"
handler404 = "inference_api.exceptions.handler404"
handler500 = "inference_api.exceptions.handler500"
