"""The HTTP views of the API: they translate HTTP, the steps live elsewhere (pipeline.py)."""

import time

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .classifier import classify_upload
from .output import shown_predictions
from .schema import ANALYZE_SCHEMA
from .upload.form import received_upload
from .upload.raw import UploadNegotiation


class AnalyzeView(APIView):
    """POST /api/v1/analyze/: one image in the multipart field `file` or as the body, top-k out.

    The client was already admitted and the body capped by the pipeline,
    whose context (`request.api`) holds the admission and takes the
    upload as received and its classification, for the audit step.
    """

    content_negotiation_class = UploadNegotiation

    @extend_schema(**ANALYZE_SCHEMA)
    def post(self, request: Request) -> Response:
        started = time.perf_counter()
        context = request.api
        received = received_upload(request.data)
        context.add(received)
        result = classify_upload(received)
        context.add(result.examined, result.classified)
        upload = result.upload
        return Response(
            {
                "predictions": shown_predictions(result.predictions, context.admission.terms),
                "model": result.model.describe(),
                "image": {"format": upload.format, "width": upload.width, "height": upload.height},
                "request_id": context.arrival.request_id,
                "timing_ms": {
                    "decode": round(result.decode_ms, 2),
                    "inference": round(result.inference_ms, 2),
                    "total": round((time.perf_counter() - started) * 1000, 2),
                },
            }
        )
