"""The HTTP views of the API: they translate HTTP, the steps live elsewhere (pipeline.py)."""

import time

from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .analyze import Analysis, analyze
from .output import shown_predictions
from .schema import ANALYZE_SCHEMA
from .upload.form import received_upload
from .upload.raw import UploadNegotiation


class AnalyzeView(APIView):
    """POST /api/v1/analyze/: one image in the multipart field `file` or as the body, top-k out.

    The client was already admitted and the body capped by the pipeline.
    """

    content_negotiation_class = UploadNegotiation

    @extend_schema(**ANALYZE_SCHEMA)
    def post(self, request: Request) -> Response:
        started = time.perf_counter()
        analysis = analyze(received_upload(request.data))
        upload = analysis.upload
        terms = request.api_admission.terms
        response = Response(
            {
                "predictions": shown_predictions(analysis.predictions, terms),
                "model": analysis.model.describe(),
                "image": {"format": upload.format, "width": upload.width, "height": upload.height},
                "request_id": request.request_id,
                "timing_ms": {
                    "decode": round(analysis.decode_ms, 2),
                    "inference": round(analysis.inference_ms, 2),
                    "total": round((time.perf_counter() - started) * 1000, 2),
                },
            }
        )
        response.analysis = analysis
        return response


def answered_analysis(response: HttpResponse) -> Analysis | None:
    """The analysis an answer was made from, for the audit step; None for any other answer."""
    return getattr(response, "analysis", None)
