"""URL routes. The API lives under /api/v1/; the admin under /admin/."""

from django.contrib import admin
from django.urls import path

from inference_api.views import AnalyzeView

urlpatterns = [
    path("api/v1/analyze/", AnalyzeView.as_view(), name="analyze"),
    path("admin/", admin.site.urls),
]

handler404 = "inference_api.exceptions.handler404"
handler500 = "inference_api.exceptions.handler500"
