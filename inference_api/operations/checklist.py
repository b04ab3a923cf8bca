"""The pre-traffic checklist of DESIGN.md, as Django system checks.

Each item is a function of the live configuration returning a `Verdict`
(ok, and why, in words fit for an operator's terminal: never a secret's
value). `register_checks()` (called from the app's `ready()`) registers
every item as a deploy check, so `manage.py check --deploy` reports the
failures as errors, and `manage.py preflight` prints every item, passed or
not. They are deploy-only so a development box or a test server can still
migrate with a quickstart configuration.
"""

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import FileSystemStorage, storages

from ..admission.clients import parse_networks
from ..imaging.cost import MEASURED_SIDE
from ..imaging.formats import FORMAT_CONTENT_TYPES
from . import access_checklist
from .verdicts import Verdict, failed, passed

# The types the decoder knows; ALLOWED_CONTENT_TYPES (the settings) may name only these.
ALLOWED_TYPES = frozenset(FORMAT_CONTENT_TYPES.values())
MAX_UPLOAD_BYTES_CEILING = 50 * 1024 * 1024
# The decode budget is measured on images up to this side (imaging/cost.py).
MAX_DIMENSION_CEILING = MEASURED_SIDE
# Pillow's own DecompressionBombWarning threshold (1024 * 1024 * 1024 // 4 // 3);
# our cap must be below it, or Pillow's is the only one left.
PILLOW_DEFAULT_MAX_PIXELS = 89_478_485
CAPPED_UPLOAD_HANDLER = "inference_api.upload.body.CappedMemoryUploadHandler"
SHARED_CACHE_BACKENDS = frozenset(
    {
        "django.core.cache.backends.redis.RedisCache",
        "django.core.cache.backends.memcached.PyMemcacheCache",
        "django.core.cache.backends.memcached.PyLibMCCache",
        "django_redis.cache.RedisCache",
    }
)
EXCEPTION_HANDLER = "inference_api.exceptions.api_exception_handler"
ERROR_VIEWS = {
    "handler404": "inference_api.exceptions.handler404",
    "handler500": "inference_api.exceptions.handler500",
}
# Keys that are in this repository or its examples, so known to everyone.
KNOWN_SECRET_KEYS = frozenset(
    {"change-me", "changeme", "test-only-secret-key-not-used-anywhere-else-0123456789"}
)
SECRET_KEY_MIN_LENGTH = 50
SECRET_KEY_MIN_UNIQUE = 5
PUBLIC_ACLS = frozenset({"public-read", "public-read-write", "authenticated-read"})
MIN_DECODE_MEMORY_MIB = 256
# A 1x1 grey PNG: what the decode-budget check has a decoder decode.
PROBE_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108000000003a7e9b55"
    "0000000a49444154789c636800000082008177cd72b60000000049454e44ae426082"
)


def check_allowlist() -> Verdict:
    """Only JPEG, PNG and WebP may be declared (checklist 1)."""
    allowed = set(settings.ALLOWED_CONTENT_TYPES)
    extra = sorted(allowed - ALLOWED_TYPES)
    if not allowed:
        return failed("ALLOWED_CONTENT_TYPES is empty")
    if extra:
        return failed(f"ALLOWED_CONTENT_TYPES also allows {', '.join(extra)}")
    return passed(", ".join(sorted(allowed)))


def check_upload_caps() -> Verdict:
    """A byte cap enforced while streaming, and a dimension cap (checklist 2 and 4)."""
    size, dimension = settings.MAX_UPLOAD_BYTES, settings.MAX_IMAGE_DIMENSION
    if not 0 < size <= MAX_UPLOAD_BYTES_CEILING:
        return failed(f"MAX_UPLOAD_BYTES={size} is not in 1..{MAX_UPLOAD_BYTES_CEILING}")
    if not 0 < dimension <= MAX_DIMENSION_CEILING:
        return failed(f"MAX_IMAGE_DIMENSION={dimension} is not in 1..{MAX_DIMENSION_CEILING}")
    handlers = list(settings.FILE_UPLOAD_HANDLERS)
    if handlers != [CAPPED_UPLOAD_HANDLER]:
        return failed(f"FILE_UPLOAD_HANDLERS must be [{CAPPED_UPLOAD_HANDLER}], not {handlers}")
    if settings.DATA_UPLOAD_MAX_MEMORY_SIZE is None:
        return failed("DATA_UPLOAD_MAX_MEMORY_SIZE is unlimited")
    return passed(f"{size} bytes (streamed), {dimension} px per side")


def check_pixel_cap() -> Verdict:
    """The pixel cap is set and below Pillow's default (checklist 4)."""
    pixels = settings.MAX_IMAGE_PIXELS
    if not 0 < pixels < PILLOW_DEFAULT_MAX_PIXELS:
        return failed(
            f"MAX_IMAGE_PIXELS={pixels} must be positive and below Pillow's "
            f"default {PILLOW_DEFAULT_MAX_PIXELS}"
        )
    return passed(f"{pixels} pixels (Pillow's default: {PILLOW_DEFAULT_MAX_PIXELS})")


def check_shared_rate_limit_cache() -> Verdict:
    """Rate-limit counters live where every worker sees them (checklist 5)."""
    alias = settings.RATELIMIT_USE_CACHE
    if not getattr(settings, "RATELIMIT_ENABLE", True):
        return failed("RATELIMIT_ENABLE is off")
    config = settings.CACHES.get(alias)
    if config is None:
        return failed(f"no cache named {alias!r} in CACHES")
    backend = config["BACKEND"]
    short = backend.rsplit(".", 1)[-1]
    workers = settings.WEB_CONCURRENCY
    mode = "open" if settings.RATELIMIT_FAIL_OPEN else "closed"
    if backend.endswith("DummyCache"):
        return failed("the dummy cache counts nothing")
    if backend in SHARED_CACHE_BACKENDS:
        return passed(f"{short}, shared by all {workers} worker(s); fails {mode}")
    if workers > 1:
        return failed(f"{short} is per process but WEB_CONCURRENCY={workers}: set REDIS_URL")
    return passed(f"{short} in one process (quickstart only; replicas need REDIS_URL)")


def check_trusted_proxies() -> Verdict:
    """Forwarded-for is only read from real proxies, never from everyone (checklist 5)."""
    try:
        networks = parse_networks(settings.TRUSTED_PROXIES)
    except ValueError as exc:
        return failed(f"TRUSTED_PROXIES has a malformed network ({exc})")
    if any(network.prefixlen == 0 for network in networks):
        return failed("TRUSTED_PROXIES trusts every address: any client could pick its IP")
    if not networks:
        return passed("none: the peer address is the client")
    return passed(", ".join(str(network) for network in networks))


def check_cors() -> Verdict:
    """Cross-origin callers only from listed origins, never `*` (checklist 6)."""
    origins = list(getattr(settings, "CORS_ALLOWED_ORIGINS", []))
    if getattr(settings, "CORS_ALLOW_ALL_ORIGINS", False):
        return failed("CORS_ALLOW_ALL_ORIGINS is on")
    if getattr(settings, "CORS_ALLOWED_ORIGIN_REGEXES", []):
        return failed("CORS_ALLOWED_ORIGIN_REGEXES is set; list exact origins instead")
    if getattr(settings, "CORS_ALLOW_CREDENTIALS", False):
        return failed("CORS_ALLOW_CREDENTIALS is on")
    if not str(getattr(settings, "CORS_URLS_REGEX", "")).startswith("^/api/"):
        return failed("CORS_URLS_REGEX must limit CORS to the API paths")
    bad = [origin for origin in origins if not _is_exact_origin(origin)]
    if bad:
        return failed(f"CORS_ALLOWED_ORIGINS has wildcards or non-origins: {', '.join(bad)}")
    return passed(", ".join(origins) or "none (same-origin only)")


def _is_exact_origin(origin: str) -> bool:
    """scheme://host[:port] and nothing else (no wildcard, path, user or query)."""
    if "*" in origin:
        return False
    try:
        parts = urlsplit(origin)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return False
    return (
        parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and parts.username is None
        and not (parts.path or parts.query or parts.fragment)
    )


def check_debug() -> Verdict:
    """DEBUG is off (checklist 7: no tracebacks to clients)."""
    return failed("DEBUG is on") if settings.DEBUG else passed("off")


def check_error_handler() -> Verdict:
    """Errors answer the JSON contract and the log ties them to a request id (checklist 7)."""
    handler = settings.REST_FRAMEWORK.get("EXCEPTION_HANDLER")
    if handler != EXCEPTION_HANDLER:
        return failed(f"REST_FRAMEWORK EXCEPTION_HANDLER is {handler!r}, not {EXCEPTION_HANDLER}")
    urlconf = import_module(settings.ROOT_URLCONF)
    for name, expected in ERROR_VIEWS.items():
        view = getattr(urlconf, name, None)
        if view != expected and f"{getattr(view, '__module__', '')}.{name}" != expected:
            return failed(f"{settings.ROOT_URLCONF}.{name} is not {expected}")
    if not _logs_request_ids(settings.LOGGING):
        return failed(
            "no log handler adds the request id (inference_api.operations.logging.RequestIdFilter)"
        )
    return passed("JSON errors for DRF, 404 and 500; request ids in the log")


def _logs_request_ids(logging_config: dict) -> bool:
    filters = {
        name
        for name, spec in logging_config.get("filters", {}).items()
        if str(spec.get("()", "")).endswith("RequestIdFilter")
    }
    return any(
        filters & set(handler.get("filters", []))
        for handler in logging_config.get("handlers", {}).values()
    )


def check_secrets() -> Verdict:
    """SECRET_KEY (and R2 keys, when R2 is used) come set and strong (checklist 8)."""
    key = _secret_key()
    if not key:
        return failed("SECRET_KEY is not set")
    if key in KNOWN_SECRET_KEYS or key.startswith("django-insecure-"):
        return failed("SECRET_KEY is a default from the repository or Django's template")
    if len(key) < SECRET_KEY_MIN_LENGTH or len(set(key)) < SECRET_KEY_MIN_UNIQUE:
        return failed(f"SECRET_KEY is weak (fewer than {SECRET_KEY_MIN_LENGTH} characters)")
    if settings.R2_ENDPOINT_URL and not (
        settings.R2_ACCESS_KEY_ID and settings.R2_SECRET_ACCESS_KEY
    ):
        return failed("R2_ENDPOINT_URL is set without R2_ACCESS_KEY_ID and R2_SECRET_ACCESS_KEY")
    r2 = ", R2 keys set" if settings.R2_ENDPOINT_URL else ""
    return passed(f"SECRET_KEY set ({len(key)} characters){r2}")


def _secret_key() -> str:
    # Django refuses to hand out an empty SECRET_KEY; that is our "not set".
    try:
        return settings.SECRET_KEY or ""
    except ImproperlyConfigured:
        return ""


def check_model_hash() -> Verdict:
    """The model file's SHA-256 is pinned in the configuration, not just read beside the file."""
    pinned = settings.MODEL_SHA256.strip().lower()
    if not pinned:
        return failed("MODEL_SHA256 is not set: the hash would come from storage with the file")
    if not re.fullmatch(r"[0-9a-f]{64}", pinned):
        return failed("MODEL_SHA256 is not a 64-digit hex SHA-256")
    return passed(f"sha256 {pinned[:12]}…")


def check_quarantine_private() -> Verdict:
    """Quarantined uploads are never reachable by URL without a signature."""
    config = settings.STORAGES["quarantine"]
    storage = storages.create_storage(config)
    if isinstance(storage, FileSystemStorage):
        return _local_quarantine_verdict(Path(storage.location).resolve())
    return _bucket_quarantine_verdict(storage)


def _served_directories() -> list[Path]:
    """Folders whose files a URL can reach: static, media, the default storage."""
    candidates = [settings.STATIC_ROOT, settings.MEDIA_ROOT]
    candidates.append(getattr(settings, "WHITENOISE_ROOT", None))
    for entry in settings.STATICFILES_DIRS:
        candidates.append(entry[1] if isinstance(entry, tuple) else entry)
    default = storages.create_storage(settings.STORAGES["default"])
    if isinstance(default, FileSystemStorage):
        candidates.append(default.location)
    return [Path(path).resolve() for path in candidates if path]


def _local_quarantine_verdict(location: Path) -> Verdict:
    for served in _served_directories():
        if location == served or location.is_relative_to(served):
            return failed(f"the quarantine folder {location} is inside served folder {served}")
    return passed(f"local folder {location}, outside every served folder")


def _bucket_quarantine_verdict(storage) -> Verdict:
    acl = getattr(storage, "default_acl", None)
    if acl in PUBLIC_ACLS:
        return failed(f"the quarantine bucket writes objects with the public ACL {acl!r}")
    if not getattr(storage, "querystring_auth", False):
        return failed("the quarantine storage hands out unsigned URLs (querystring_auth off)")
    if getattr(storage, "custom_domain", None):
        return failed("the quarantine storage uses a custom domain (unsigned public URLs)")
    return passed(f"bucket {storage.bucket_name}: private ACL, signed URLs only")


def check_not_root(uid: int | None = None) -> Verdict:
    """The process does not run as root (checklist 9). `uid` defaults to the effective uid."""
    uid = os.geteuid() if uid is None else uid
    if uid == 0:
        return failed("running as root (uid 0); run as an unprivileged user")
    return passed(f"uid {uid}")


def check_decode_budget() -> Verdict:
    """Every decode runs in a budgeted decoder process, and the budget is coherent.

    Starts a decoder and has it check and decode a tiny image, as an upload would.
    """
    cpu, wall = settings.DECODE_CPU_SECONDS, settings.DECODE_WALL_SECONDS
    memory_mib = settings.DECODE_MEMORY_BYTES // (1024 * 1024)
    if not 0 < cpu <= wall:
        return failed(f"DECODE_CPU_SECONDS={cpu} must be > 0 and <= DECODE_WALL_SECONDS={wall}")
    if memory_mib < MIN_DECODE_MEMORY_MIB:
        return failed(f"DECODE_MEMORY_BYTES is {memory_mib} MiB, below {MIN_DECODE_MEMORY_MIB}")
    timeout = float(os.environ.get("GUNICORN_TIMEOUT") or 30)
    if wall >= timeout:
        return failed(f"DECODE_WALL_SECONDS={wall} must be below GUNICORN_TIMEOUT={timeout:g}")
    from ..imaging.limits import DecodeLimits, ModelInput
    from ..sandbox.pool import DecoderPool

    pool = DecoderPool(spare=0)
    try:
        pool.decode(PROBE_PNG, DecodeLimits.from_settings(), ModelInput())
    finally:
        pool.close()
    return passed(f"{cpu:g} CPU-s, {memory_mib} MiB, {wall:g} s per decode, in a decoder process")


@dataclass(frozen=True)
class ChecklistItem:
    """One line of the pre-traffic checklist and the Django check id it reports as."""

    id: str
    title: str
    verdict: Callable[[], Verdict]
    hint: str


CHECKLIST: tuple[ChecklistItem, ...] = (
    ChecklistItem("inference_api.E001", "content-type allowlist", check_allowlist,
                  f"ALLOWED_CONTENT_TYPES: {', '.join(sorted(ALLOWED_TYPES))} only."),
    ChecklistItem("inference_api.E002", "upload size and dimension caps", check_upload_caps,
                  "Set MAX_UPLOAD_BYTES and MAX_IMAGE_DIMENSION; keep the capped upload handler."),
    ChecklistItem("inference_api.E003", "pixel cap below Pillow's default", check_pixel_cap,
                  "Set MAX_IMAGE_PIXELS below 89478485."),
    ChecklistItem("inference_api.E004", "shared rate-limit cache", check_shared_rate_limit_cache,
                  "Set REDIS_URL whenever more than one process serves."),
    ChecklistItem("inference_api.E005", "trusted proxies", check_trusted_proxies,
                  "List only your proxies' networks in TRUSTED_PROXIES."),
    ChecklistItem("inference_api.E006", "CORS origins", check_cors,
                  "List exact origins in CORS_ALLOWED_ORIGINS, never '*'."),
    ChecklistItem("inference_api.E007", "DEBUG off", check_debug, "Unset DEBUG."),
    ChecklistItem("inference_api.E008", "JSON error handler", check_error_handler,
                  "Keep the project's EXCEPTION_HANDLER, handler404/500 and logging filter."),
    ChecklistItem("inference_api.E009", "secrets from the environment", check_secrets,
                  "Export a random SECRET_KEY of 50+ characters (and R2 keys when R2 is used)."),
    ChecklistItem("inference_api.E010", "model hash pinned", check_model_hash,
                  "Set MODEL_SHA256 to the exported model's hash (manage.py verify_model)."),
    ChecklistItem("inference_api.E011", "quarantine storage private", check_quarantine_private,
                  "Keep QUARANTINE_DIR outside served folders; no public ACL on the bucket."),
    ChecklistItem("inference_api.E012", "running user not root", check_not_root,
                  "Run the server as an unprivileged user (the image's USER)."),
    ChecklistItem("inference_api.E013", "gunicorn behind the proxy",
                  access_checklist.check_gunicorn_behind_proxy,
                  "Bind gunicorn to loopback, or put deploy/nginx.conf in front and set "
                  "TRUSTED_PROXIES to its address."),
    ChecklistItem("inference_api.E014", "admin login lockout", access_checklist.check_admin_lockout,
                  "Keep django-axes' backend first and its middleware; set "
                  "ADMIN_LOGIN_FAILURE_LIMIT and ADMIN_LOGIN_COOLOFF_MINUTES."),
    ChecklistItem("inference_api.W015", "admin two-factor login", access_checklist.check_admin_2fa,
                  "Enroll staff TOTP devices in the admin, then set ADMIN_REQUIRE_2FA=true."),
    ChecklistItem("inference_api.E016", "admin networks", access_checklist.check_admin_networks,
                  "List CIDRs in ADMIN_ALLOWED_NETWORKS, or leave it empty."),
    ChecklistItem("inference_api.E017", "Content-Security-Policy",
                  access_checklist.check_content_security_policy,
                  "Keep csp.middleware.CSPMiddleware and a script-src without 'unsafe-inline'."),
    ChecklistItem("inference_api.E018", "quarantine budgets",
                  access_checklist.check_quarantine_budgets,
                  "Set QUARANTINE_MAX_BYTES above QUARANTINE_MAX_BYTES_PER_CLIENT, and "
                  "QUARANTINE_MAX_FLAGGED_PER_CLIENT_PER_DAY."),
    ChecklistItem("inference_api.E019", "decode budget", check_decode_budget,
                  "Set DECODE_CPU_SECONDS <= DECODE_WALL_SECONDS < GUNICORN_TIMEOUT, "
                  "DECODE_MEMORY_BYTES >= 256 MiB; the decoder must start."),
)


def run_item(item: ChecklistItem) -> Verdict:
    """An item's verdict; a check that crashes fails, with the exception's type."""
    try:
        return item.verdict()
    except Exception as exc:  # noqa: BLE001 - a broken setting must show as a failed item
        return failed(f"could not be checked ({type(exc).__name__})")


def _as_system_check(item: ChecklistItem) -> Callable[..., list[checks.CheckMessage]]:
    def system_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
        verdict = run_item(item)
        if verdict.ok and not verdict.warning:
            return []
        level = checks.Warning if verdict.ok else checks.Error
        return [level(f"{item.title}: {verdict.detail}", hint=item.hint, id=item.id)]

    system_check.__name__ = f"check_{item.id.rsplit('.', 1)[-1].lower()}"
    return system_check


def register_checks() -> None:
    """Register every checklist item as a deploy check (`manage.py check --deploy`)."""
    for item in CHECKLIST:
        checks.register(_as_system_check(item), "inference_api", deploy=True)
