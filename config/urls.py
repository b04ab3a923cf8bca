"""URL routes. The API lives under /api/v1/; the admin under /admin/."""

from django.contrib import admin
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from inference_api.health import healthz, readyz
from inference_api.metrics import metrics_view
from inference_api.views import AnalyzeView

urlpatterns = [
    path("api/v1/analyze/", AnalyzeView.as_view(), name="analyze"),
    path("admin/", admin.site.urls),
    # No trailing slash: production's SECURE_REDIRECT_EXEMPT matches these exactly.
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
]

handler404 = "inference_api.exceptions.handler404"
handler500 = "inference_api.exceptions.handler500"
