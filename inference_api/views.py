"""The HTTP views of the API. Thin: each step lives in its own module."""

import time

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analysis.inference import classify_square
from analysis.model_store import get_model

from . import metrics
from .concurrency import inference_slot
from .records import RequestRecord, record_for
from .schema import ANALYZE_SCHEMA
from .serializers import AnalyzeRequestSerializer


class AnalyzeView(APIView):
    """POST /api/v1/analyze/: one image in the multipart field `file`, top-k labels out.

    The client was already admitted (blocklist, key, rate limit) and the
    declared size checked by `middleware.UploadLimitMiddleware`.
    """

    @extend_schema(**ANALYZE_SCHEMA)
    def post(self, request: Request) -> Response:
        started = time.perf_counter()
        record = record_for(request._request)
        serializer = AnalyzeRequestSerializer(data=request.data, context={"record": record})
        serializer.is_valid(raise_exception=True)
        upload = serializer.validated_data["file"]
        model = get_model()
        decode_ms = upload.decode_ms
        with inference_slot(), metrics.inference_in_flight():
            result = classify_square(model, upload.square())
        metrics.observe_analysis(model=model, decode_ms=decode_ms, inference_ms=result.inference_ms)
        _note_result(record, model, result)
        return Response(
            {
                "predictions": [p.as_dict() for p in result.predictions],
                "model": model.describe(),
                "image": {"format": upload.format, "width": upload.width, "height": upload.height},
                "request_id": record.request_id,
                "timing_ms": {
                    "decode": round(decode_ms, 2),
                    "inference": round(result.inference_ms, 2),
                    "total": round((time.perf_counter() - started) * 1000, 2),
                },
            }
        )


def _note_result(record: RequestRecord, model, result) -> None:
    top = result.predictions[0]
    record.top_label = top.label
    record.top_score = top.score
    record.model_version = model.metadata.version
