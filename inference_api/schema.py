"""OpenAPI description of the analyze endpoint (drf-spectacular).

The serializers here only describe the wire format for the schema; the view
builds its responses itself and `upload/form.py` parses the request. Every
error status the endpoint can answer is listed with the error body and the
codes it can carry, so a client generated from the schema knows them all.
"""

from drf_spectacular.utils import OpenApiParameter, OpenApiRequest, OpenApiResponse
from rest_framework import serializers

from . import errors


class ErrorSerializer(serializers.Serializer):
    """The error contract: the same three fields for every refusal."""

    error = serializers.CharField(help_text="A message for a person; never a library's text.")
    code = serializers.CharField(help_text="A stable machine code (listed per status).")
    request_id = serializers.CharField(help_text="Also in the X-Request-ID header and the logs.")


class PredictionSerializer(serializers.Serializer):
    label = serializers.CharField()
    class_index = serializers.IntegerField(min_value=0)
    score = serializers.FloatField(min_value=0, max_value=1)


class ModelDescriptionSerializer(serializers.Serializer):
    name = serializers.CharField()
    version = serializers.CharField()
    sha256 = serializers.RegexField(r"^[0-9a-f]{64}$")


class ImageDescriptionSerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=["JPEG", "PNG", "WEBP"])
    width = serializers.IntegerField(min_value=1)
    height = serializers.IntegerField(min_value=1)


class TimingSerializer(serializers.Serializer):
    decode = serializers.FloatField(min_value=0)
    inference = serializers.FloatField(min_value=0)
    total = serializers.FloatField(min_value=0)


class AnalyzeResponseSerializer(serializers.Serializer):
    """A classified image: top-k labels, best first."""

    predictions = PredictionSerializer(many=True)
    model = ModelDescriptionSerializer()
    image = ImageDescriptionSerializer()
    request_id = serializers.CharField()
    timing_ms = TimingSerializer()


UPLOAD_FORM = {
    "type": "object",
    "properties": {
        "file": {
            "type": "string",
            "format": "binary",
            "description": "One JPEG, PNG or WebP image, at most MAX_UPLOAD_BYTES "
            "(10 MiB by default), at most 8000 px a side.",
        }
    },
    "required": ["file"],
}
UPLOAD_REQUEST = {
    "multipart/form-data": OpenApiRequest(
        request=UPLOAD_FORM,
        # The part's own Content-Type is checked against the allowlist, then the bytes.
        encoding={"file": {"contentType": "image/jpeg, image/png, image/webp"}},
    )
}

# What each error status of the analyze endpoint means; the codes come from errors.py.
ERROR_STATUSES: dict[int, str] = {
    400: "The form is wrong.",
    401: "An API key is required or the one sent is invalid.",
    403: "This client is blocked, or a web page on a foreign origin sent the request.",
    413: "The upload is over the byte cap (declared or streamed).",
    415: "The declared type is not allowed, or the bytes are another format.",
    422: (
        "Undecodable or truncated, over the dimension or pixel cap, too many progressive "
        "scans, or more costly to decode than the decode budget allows."
    ),
    429: "Too many requests from this client; see Retry-After.",
    500: "An unexpected failure; the body says only 'Internal error'.",
    503: "Busy, model not ready, or the rate-limit store is down; see Retry-After.",
}
# Codes of other endpoints (/readyz, /metrics) and the generic base class.
NOT_FROM_ANALYZE = frozenset({"bad_request", "not_ready", "forbidden"})


def error_codes(status: int) -> tuple[str, ...]:
    """The stable codes the analyze endpoint answers with `status`, from errors.py."""
    return tuple(
        error.code
        for error in errors.all_errors()
        if error.status == status and error.code not in NOT_FROM_ANALYZE
    )


def _error_response(description: str, codes: tuple[str, ...]) -> OpenApiResponse:
    listed = ", ".join(f"`{code}`" for code in codes)
    return OpenApiResponse(response=ErrorSerializer, description=f"{description} Codes: {listed}.")


ANALYZE_SCHEMA: dict = {
    "summary": "Classify one image",
    "description": (
        "Send one image in the multipart field `file`. The image is checked (type, "
        "size, real format, dimensions, decodability) before the model sees it; the "
        "answer is the model's top-k ImageNet labels."
    ),
    "request": UPLOAD_REQUEST,
    "responses": {
        200: OpenApiResponse(response=AnalyzeResponseSerializer, description="Classified."),
        **{
            status: _error_response(description, error_codes(status))
            for status, description in ERROR_STATUSES.items()
        },
    },
    "parameters": [
        OpenApiParameter(
            "X-Api-Key",
            str,
            OpenApiParameter.HEADER,
            required=False,
            description="An API key: higher rate limits; required when the server says so.",
        ),
        OpenApiParameter(
            "X-Request-ID",
            str,
            OpenApiParameter.HEADER,
            response=True,
            description="The id of this request, also in the body of errors and the logs.",
        ),
        OpenApiParameter(
            "Retry-After",
            int,
            OpenApiParameter.HEADER,
            response=[429, 503],
            description="Seconds to wait before retrying.",
        ),
    ],
    "auth": [],
}
