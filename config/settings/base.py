"""Settings shared by every profile.

Most environment variables are read here, and all are parsed strictly: a
malformed value stops the process at start-up instead of being guessed at.
production.py and test.py read a few themselves, with their profile's own
default (SECURE_*, LOG_FORMAT; TEST_VAR_DIR, the rate limits, ...);
local.py reads none. Every name read here or there is listed in
config/environment.py, README's configuration table is made from that list,
and tests/config/test_environment.py holds the files to it.
"""

import re
from datetime import timedelta
from pathlib import Path

import environ
from botocore.config import Config as BotoConfig
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()


def _env_duration(name: str, default: str) -> int:
    """A duration in seconds from `<n>s`, `<n>m`, `<n>h` or `<n>d` (`0` = off).

    Anything else stops the process: `10` alone could mean seconds or minutes.
    """
    value = env.str(name, default=default).strip()
    if value == "0":
        return 0
    match = re.fullmatch(r"(\d+)([smhd])", value)
    if match is None:
        raise ImproperlyConfigured(f"{name}={value!r}: write e.g. 90s, 10m, 1h or 7d")
    return int(match[1]) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[match[2]]


# A local `.env` is for development only (made by `make run`); production
# gets its environment from the process manager and has no such file.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

VAR_DIR = Path(env.str("VAR_DIR", default=str(BASE_DIR / "var")))

# --- core -----------------------------------------------------------------
SECRET_KEY = env.str("SECRET_KEY", default="")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "rest_framework_api_key",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "analysis",
    "inference_api",
]

MIDDLEWARE = [
    "inference_api.pipeline.RequestIdMiddleware",
    # Before SecurityMiddleware: only a trusted proxy may say the request was HTTPS.
    "inference_api.admission.edge.ForwardedProtoMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "inference_api.admission.edge.AdminNetworkMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "inference_api.admission.cors.ApiCorsMiddleware",
    "inference_api.pipeline.ApiPipelineMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes requires: it turns a locked-out login into its 429.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# django-axes first: it refuses a locked-out username or address before any
# password is hashed.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

# --- cache: rate-limit counters must be shared by every worker -------------
REDIS_URL = env.str("REDIS_URL", default="")
CACHE_TIMEOUT_SECONDS = env.float("CACHE_TIMEOUT_SECONDS", default=0.5)
if REDIS_URL:
    _cache = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        # A dead Redis must answer fast, so the fail mode decides, not a hang.
        "OPTIONS": {
            "socket_connect_timeout": CACHE_TIMEOUT_SECONDS,
            "socket_timeout": CACHE_TIMEOUT_SECONDS,
        },
    }
else:
    # The blocklist's index holds an entry per blocked client: the default
    # cull at 300 entries would drop blocks.
    _cache = {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "OPTIONS": {"MAX_ENTRIES": 1_000_000},
    }
CACHES = {
    "default": {**_cache, "KEY_PREFIX": "ia"},
    "ratelimit": {**_cache, "KEY_PREFIX": "rl"},
}

# --- storage: the model file and the quarantine ----------------------------
R2_ENDPOINT_URL = env.str("R2_ENDPOINT_URL", default="")
R2_ACCESS_KEY_ID = env.str("R2_ACCESS_KEY_ID", default="")
R2_SECRET_ACCESS_KEY = env.str("R2_SECRET_ACCESS_KEY", default="")
R2_MODEL_BUCKET = env.str("R2_MODEL_BUCKET", default="")
R2_QUARANTINE_BUCKET = env.str("R2_QUARANTINE_BUCKET", default="")
R2_CONNECT_TIMEOUT = env.float("R2_CONNECT_TIMEOUT", default=3.0)
R2_READ_TIMEOUT = env.float("R2_READ_TIMEOUT", default=10.0)
MODEL_STORAGE_DIR = Path(env.str("MODEL_STORAGE_DIR", default=str(VAR_DIR / "models")))
QUARANTINE_DIR = Path(env.str("QUARANTINE_DIR", default=str(VAR_DIR / "quarantine")))


def _r2_storage(bucket: str) -> dict:
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": bucket,
            "endpoint_url": R2_ENDPOINT_URL,
            "access_key": R2_ACCESS_KEY_ID,
            "secret_key": R2_SECRET_ACCESS_KEY,
            "region_name": "auto",
            "signature_version": "s3v4",
            "default_acl": None,
            "querystring_auth": True,
            "file_overwrite": False,
            # R2 rejects the CRC checksums current boto3 sends by default.
            "client_config": BotoConfig(
                signature_version="s3v4",
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
                retries={"max_attempts": 3, "mode": "standard"},
                # botocore waits 60 s per attempt by default: a storage that
                # accepts connections and never answers would hold a worker
                # (and the model loader's lock) for minutes.
                connect_timeout=R2_CONNECT_TIMEOUT,
                read_timeout=R2_READ_TIMEOUT,
            ),
        },
    }


def _local_storage(location: Path, private: bool = False) -> dict:
    # No URL route serves these folders; a private one is readable by the
    # service's own user only.
    options: dict = {"location": str(location)}
    if private:
        options |= {"file_permissions_mode": 0o600, "directory_permissions_mode": 0o700}
    return {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": options}


STORAGES = {
    "default": _local_storage(VAR_DIR / "media"),
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    "models": _r2_storage(R2_MODEL_BUCKET)
    if R2_ENDPOINT_URL
    else _local_storage(MODEL_STORAGE_DIR),
    "quarantine": (
        _r2_storage(R2_QUARANTINE_BUCKET)
        if R2_ENDPOINT_URL
        else _local_storage(QUARANTINE_DIR, private=True)
    ),
}

# --- the model ---------------------------------------------------------------
MODEL_FILE_NAME = env.str("MODEL_FILE_NAME", default="efficientnet_lite0.pt")
# Pinned SHA-256 of the model file; empty means "the hash recorded at export".
MODEL_SHA256 = env.str("MODEL_SHA256", default="")
MODEL_CACHE_DIR = Path(env.str("MODEL_CACHE_DIR", default=str(VAR_DIR / "model-cache")))
TORCH_THREADS = env.int("TORCH_THREADS", default=1)
# oneDNN's fusion of the TorchScript graph (convolution, ReLU6, addition in one
# kernel): the forward pass in about 0.55x the plain graph's time, the same
# probabilities within 1e-6 (docs/decisions.md).
TORCH_ONEDNN_FUSION = env.bool("TORCH_ONEDNN_FUSION", default=True)

# --- upload limits -------------------------------------------------------------
MAX_UPLOAD_BYTES = env.int("MAX_UPLOAD_BYTES", default=10 * 1024 * 1024)
MAX_IMAGE_DIMENSION = env.int("MAX_IMAGE_DIMENSION", default=8000)
# Below Pillow's own default (89,478,485); 8000 x 8000 still fits.
MAX_IMAGE_PIXELS = env.int("MAX_IMAGE_PIXELS", default=64_000_000)
MAX_JPEG_SCANS = env.int("MAX_JPEG_SCANS", default=64)
ALLOWED_CONTENT_TYPES = ("image/jpeg", "image/png", "image/webp")
# The decode budget: what checking and decoding one upload may cost, enforced
# by the kernel on the decoder process (inference_api.sandbox). Over it: 422 too_costly.
DECODE_CPU_SECONDS = env.float("DECODE_CPU_SECONDS", default=3.0)
DECODE_MEMORY_BYTES = env.int("DECODE_MEMORY_BYTES", default=768 * 1024 * 1024)
DECODE_WALL_SECONDS = env.float("DECODE_WALL_SECONDS", default=9.0)
# Django's own form parsing limits, for the few non-file fields allowed.
DATA_UPLOAD_MAX_NUMBER_FIELDS = 20
DATA_UPLOAD_MAX_NUMBER_FILES = 2
DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = MAX_UPLOAD_BYTES
FILE_UPLOAD_HANDLERS = ["inference_api.upload.body.CappedMemoryUploadHandler"]

# --- abuse controls ---------------------------------------------------------------
RATE_LIMIT_PER_IP = env.str("RATE_LIMIT_PER_IP", default="30/m")
RATE_LIMIT_PER_KEY = env.str("RATE_LIMIT_PER_KEY", default="300/m")
RATELIMIT_USE_CACHE = "ratelimit"
# Plans (inference_api.admission.plans): the Plan (by name, edited in the admin)
# of anonymous clients and of keys without one; empty: the built-in plan, with
# the rate above, no allowance and the full output.
ANONYMOUS_PLAN = env.str("ANONYMOUS_PLAN", default="")
DEFAULT_KEY_PLAN = env.str("DEFAULT_KEY_PLAN", default="")
# How long a worker keeps a plan before reading it again (an admin edit's delay).
PLAN_CACHE_SECONDS = env.float("PLAN_CACHE_SECONDS", default=30.0)
# Model-extraction signals (inference_api.audit.extraction): the last
# EXTRACTION_WINDOW queries of a key or address, kept EXTRACTION_WINDOW_SECONDS;
# flagged once EXTRACTION_MIN_QUERIES classified ones average
# EXTRACTION_QUERIES_PER_IMAGE queries per distinct image (near-duplicates:
# fingerprints within EXTRACTION_NEAR_BITS of 64). EXTRACTION_DOWNGRADE: a
# flagged key's answers carry labels only until the flag is lifted.
EXTRACTION_WINDOW = env.int("EXTRACTION_WINDOW", default=100)
EXTRACTION_WINDOW_SECONDS = env.int("EXTRACTION_WINDOW_SECONDS", default=86400)
EXTRACTION_MIN_QUERIES = env.int("EXTRACTION_MIN_QUERIES", default=20)
EXTRACTION_QUERIES_PER_IMAGE = env.float("EXTRACTION_QUERIES_PER_IMAGE", default=5.0)
EXTRACTION_NEAR_BITS = env.int("EXTRACTION_NEAR_BITS", default=8)
EXTRACTION_DOWNGRADE = env.bool("EXTRACTION_DOWNGRADE", default=False)
# When the rate-limit cache is unreachable: refuse (false) or let through (true).
RATELIMIT_FAIL_OPEN = env.bool("RATELIMIT_FAIL_OPEN", default=False)
REQUIRE_API_KEY = env.bool("REQUIRE_API_KEY", default=False)
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])
MAX_CONCURRENT_INFERENCES = env.int("MAX_CONCURRENT_INFERENCES", default=2)
INFERENCE_QUEUE_TIMEOUT = env.float("INFERENCE_QUEUE_TIMEOUT", default=2.0)
# How many workers serve; more than one needs a shared rate-limit cache.
WEB_CONCURRENCY = env.int("WEB_CONCURRENCY", default=1)

# Automatic temporary blocks: AUTO_BLOCK_FLAGGED flagged uploads from one
# client within AUTO_BLOCK_WINDOW block it for AUTO_BLOCK_FOR. 0 turns it off.
AUTO_BLOCK_FLAGGED = env.int("AUTO_BLOCK_FLAGGED", default=5)
AUTO_BLOCK_WINDOW = _env_duration("AUTO_BLOCK_WINDOW", "10m")
AUTO_BLOCK_FOR = _env_duration("AUTO_BLOCK_FOR", "1h")
# At most this many automatic blocks in force: past it, none is made (alarm).
AUTO_BLOCK_MAX_IN_FORCE = env.int("AUTO_BLOCK_MAX_IN_FORCE", default=100_000)
if AUTO_BLOCK_FLAGGED < 0:
    raise ImproperlyConfigured(f"AUTO_BLOCK_FLAGGED={AUTO_BLOCK_FLAGGED} must not be negative")
if AUTO_BLOCK_MAX_IN_FORCE < 1:
    raise ImproperlyConfigured(f"AUTO_BLOCK_MAX_IN_FORCE={AUTO_BLOCK_MAX_IN_FORCE} must be >= 1")
# gunicorn's listening address: read here (gunicorn's config reads it too) so
# that preflight can refuse a published gunicorn without a proxy in front.
GUNICORN_BIND = env.str("GUNICORN_BIND", default="127.0.0.1:8000")

CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_URLS_REGEX = r"^/api/v1/.*$"
CORS_ALLOW_METHODS = ("POST", "OPTIONS")
CORS_ALLOW_CREDENTIALS = False
CORS_EXPOSE_HEADERS = ("X-Request-ID", "Retry-After", "RateLimit", "RateLimit-Policy")
# A browser must be allowed to send the API key header, or keyed calls fail preflight.
CORS_ALLOW_HEADERS = ("accept", "content-type", "x-api-key")

# --- the admin: who may reach it, and its login ---------------------------------------
# Empty: the admin answers everyone; else 404 from any other client address.
ADMIN_ALLOWED_NETWORKS = env.list("ADMIN_ALLOWED_NETWORKS", default=[])
ADMIN_LOGIN_FAILURE_LIMIT = env.int("ADMIN_LOGIN_FAILURE_LIMIT", default=5)
ADMIN_LOGIN_COOLOFF_MINUTES = env.int("ADMIN_LOGIN_COOLOFF_MINUTES", default=15)
ADMIN_REQUIRE_2FA = env.bool("ADMIN_REQUIRE_2FA", default=False)
# django-axes: an address (IPv6: its /64), and separately a username from that
# address, is locked out after ADMIN_LOGIN_FAILURE_LIMIT failures until
# ADMIN_LOGIN_COOLOFF_MINUTES pass without one. Never a username alone, or
# anyone could lock staff out (console/lockout.py says why and how).
AXES_FAILURE_LIMIT = ADMIN_LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=ADMIN_LOGIN_COOLOFF_MINUTES)
AXES_LOCKOUT_PARAMETERS = "inference_api.console.lockout.lockout_parameters"
AXES_CLIENT_IP_CALLABLE = "inference_api.console.lockout.login_client_ip"
AXES_LOCKOUT_TEMPLATE = "admin/inference_api/login_locked.html"
AXES_RESET_ON_SUCCESS = True
AXES_ENABLE_ACCESS_FAILURE_LOG = True
AXES_HTTP_RESPONSE_CODE = 429
OTP_TOTP_ISSUER = "Image classification API"

# --- quarantine and retention ---------------------------------------------------------
QUARANTINE_MAX_BYTES = env.int("QUARANTINE_MAX_BYTES", default=1024 * 1024 * 1024)
QUARANTINE_MAX_BYTES_PER_CLIENT = env.int(
    "QUARANTINE_MAX_BYTES_PER_CLIENT", default=50 * 1024 * 1024
)
# Flagged rows (and so quarantine attempts) one client may add in 24 hours;
# past it, its hostile rejections are audited as ordinary rows.
QUARANTINE_MAX_FLAGGED_PER_CLIENT_PER_DAY = env.int(
    "QUARANTINE_MAX_FLAGGED_PER_CLIENT_PER_DAY", default=200
)
AUDIT_RETENTION_DAYS = env.int("AUDIT_RETENTION_DAYS", default=90)

# --- observability ----------------------------------------------------------------------
METRICS_ALLOWED_NETWORKS = env.list("METRICS_ALLOWED_NETWORKS", default=["127.0.0.0/8", "::1/128"])
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOG_FORMAT = env.str("LOG_FORMAT", default="text")

# --- DRF -----------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "inference_api.upload.multipart.UploadParser",
        "inference_api.upload.raw.RawImageParser",
        "inference_api.upload.raw.OctetStreamParser",
    ],
    "EXCEPTION_HANDLER": "inference_api.exceptions.api_exception_handler",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
API_KEY_CUSTOM_HEADER = "HTTP_X_API_KEY"

SPECTACULAR_SETTINGS = {
    "TITLE": "Image classification API",
    "DESCRIPTION": "Classifies an uploaded JPEG, PNG or WebP image with EfficientNet-Lite0.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI's files come from the drf-spectacular-sidecar package, served
    # as our own static files: no CDN at run time.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- security ---------------------------------------------------------------------------
# On every response; it matters on the HTML pages (admin, /api/docs/): no
# inline script, nothing from another origin, no framing.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# --- logging ------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "inference_api.operations.logging.RequestIdFilter"}},
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(request_id)s %(message)s",
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
}
