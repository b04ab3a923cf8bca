"""Production: every secret from the environment, no defaults for them.

Configured only by environment variables (config/environment.py lists them):
DATABASE_URL (PostgreSQL), REDIS_URL, R2_* storages, ALLOWED_HOSTS,
CORS_ALLOWED_ORIGINS; read here: SECURE_SSL_REDIRECT, SECURE_HSTS_SECONDS and
LOG_FORMAT with production's default.
"""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import DEBUG, LOGGING, SECRET_KEY, env

if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set in the environment.")
if DEBUG:
    raise ImproperlyConfigured("DEBUG must not be on in production.")

# Believed only from TRUSTED_PROXIES: inference_api.admission.edge.ForwardedProtoMiddleware
# drops the header from any other peer before SecurityMiddleware reads it.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
# Health and metrics are probed over plain HTTP from inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True

LOGGING["handlers"]["console"]["formatter"] = env.str("LOG_FORMAT", default="json")
