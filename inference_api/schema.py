"""OpenAPI description of the analyze endpoint (drf-spectacular).

The serializers here only describe the wire format for the schema; the view
builds its responses itself and `upload/form.py` parses the request. Every
error status the endpoint can answer is listed with the error body and the
codes it can carry, so a client generated from the schema knows them all.
"""

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, OpenApiRequest, OpenApiResponse
from rest_framework import serializers

from . import errors, outcomes
from .imaging.formats import CONTENT_TYPE_ALIASES

OCTET_STREAM = "application/octet-stream"


class ErrorSerializer(serializers.Serializer):
    """The error contract: the same three fields for every refusal."""

    error = serializers.CharField(help_text="A message for a person; never a library's text.")
    code = serializers.CharField(help_text="A stable machine code (listed per status).")
    request_id = serializers.CharField(help_text="Also in the X-Request-ID header and the logs.")


class PredictionSerializer(serializers.Serializer):
    """One of the plan's labels; the score at the plan's precision, absent on labels-only plans."""

    label = serializers.CharField()
    class_index = serializers.IntegerField(min_value=0)
    score = serializers.FloatField(
        min_value=0,
        max_value=1,
        required=False,
        help_text="The model's probability, rounded to the plan's decimals; absent when the "
        "plan shows labels only.",
    )


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
    """A classified image: the plan's top-k labels, best first, and nothing else of the model."""

    predictions = PredictionSerializer(
        many=True, help_text="1 to 5 labels, as many as the client's plan shows."
    )
    model = ModelDescriptionSerializer()
    image = ImageDescriptionSerializer()
    request_id = serializers.CharField()
    timing_ms = TimingSerializer()


# The limits and types are the settings' (config/settings/base.py), as this server runs.
UPLOAD_LIMITS = (
    f"at most {settings.MAX_UPLOAD_BYTES} bytes (MAX_UPLOAD_BYTES), "
    f"at most {settings.MAX_IMAGE_DIMENSION} px a side (MAX_IMAGE_DIMENSION)"
)
ALLOWED_TYPES = ", ".join(settings.ALLOWED_CONTENT_TYPES)
UPLOAD_FORM = {
    "type": "object",
    "properties": {
        "file": {
            "type": "string",
            "format": "binary",
            "description": f"One image, {UPLOAD_LIMITS}. Its part may name the type "
            f"({ALLOWED_TYPES}, or an alias: {', '.join(CONTENT_TYPE_ALIASES)}), "
            "application/octet-stream or none: the bytes decide, and a named type they "
            "contradict is refused.",
        }
    },
    "required": ["file"],
}
RAW_IMAGE = {
    "type": "string",
    "format": "binary",
    "description": f"The image itself as the body, {UPLOAD_LIMITS}.",
}
# The raw body's types: the accepted ones, and octet-stream for "the bytes decide".
RAW_TYPES = (*settings.ALLOWED_CONTENT_TYPES, OCTET_STREAM)
UPLOAD_REQUEST = {
    "multipart/form-data": OpenApiRequest(
        request=UPLOAD_FORM,
        encoding={"file": {"contentType": ", ".join(RAW_TYPES)}},
    ),
    **{media_type: RAW_IMAGE for media_type in RAW_TYPES},
}

# What each error status of the analyze endpoint means; the codes come from errors.py.
ERROR_STATUSES: dict[int, str] = {
    400: "The form is wrong.",
    401: "An API key is required or the one sent is invalid.",
    403: "This client is blocked, or a web page on a foreign origin sent the request.",
    413: "The upload is over the byte cap (declared or streamed).",
    415: (
        "The body is neither a form nor an image; the image's format is not JPEG, PNG or "
        "WebP; or the bytes are another format than the type named for them."
    ),
    422: (
        "Undecodable or truncated, over the dimension or pixel cap, too many progressive "
        "scans, or more costly to decode than the decode budget allows."
    ),
    429: (
        "Over the plan's rate (`rate_limited`) or a daily or monthly allowance used up "
        "(`quota_exceeded`); see Retry-After and the RateLimit fields."
    ),
    500: "An unexpected failure; the body says only 'Internal error'.",
    503: "Busy, model not ready, or the rate-limit store is down; see Retry-After.",
}
# Codes of other endpoints (/readyz, /metrics) and the generic base class.
NOT_FROM_ANALYZE = frozenset(
    {errors.ApiError.code, errors.NotReady.code, errors.MetricsForbidden.code}
)


def error_codes(status: int) -> tuple[str, ...]:
    """The stable codes the analyze endpoint answers with `status`, from errors.py."""
    return tuple(
        error.code
        for error in outcomes.refusals()
        if error.status == status and error.code not in NOT_FROM_ANALYZE
    )


def _error_response(description: str, codes: tuple[str, ...]) -> OpenApiResponse:
    listed = ", ".join(f"`{code}`" for code in codes)
    return OpenApiResponse(response=ErrorSerializer, description=f"{description} Codes: {listed}.")


ANALYZE_SCHEMA: dict = {
    "summary": "Classify one image",
    "description": (
        "Send one image in the multipart field `file`, or as the request body with its "
        f"type ({ALLOWED_TYPES}, or {OCTET_STREAM}: the bytes "
        "decide). The image is checked (size, real format, dimensions, decodability) "
        "before the model sees it; the answer is the model's top-k ImageNet labels."
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
        OpenApiParameter(
            "RateLimit-Policy",
            str,
            OpenApiParameter.HEADER,
            response=True,
            description='The plan\'s policies (draft-ietf-httpapi-ratelimit-headers): '
            '`"rate";q=30;w=60`, and `"day"`, `"month"`, `"day-megapixels"`, '
            '`"month-megapixels"` for its allowances.',
        ),
        OpenApiParameter(
            "RateLimit",
            str,
            OpenApiParameter.HEADER,
            response=True,
            description='What is left of each policy and the seconds until it renews: '
            '`"rate";r=12;t=41`.',
        ),
    ],
    "auth": [],
}
