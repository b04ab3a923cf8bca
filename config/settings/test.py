"""Settings for the test suite: fast hashing, a var folder of its own.

The database and cache still come from DATABASE_URL and REDIS_URL, so the
same suite runs on SQLite locally and on PostgreSQL and Redis in CI. Live
servers started by the tests use this module too, with their own env.
"""

from pathlib import Path

from .base import *  # noqa: F403
from .base import BASE_DIR, STORAGES, _local_storage, env

SECRET_KEY = "test-only-secret-key-not-used-anywhere-else-0123456789"  # noqa: S105
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# The suite keeps its model and quarantine apart from a developer's `make run`.
VAR_DIR = Path(env.str("TEST_VAR_DIR", default=str(BASE_DIR / "var" / "test")))
MODEL_STORAGE_DIR = VAR_DIR / "models"
QUARANTINE_DIR = Path(env.str("QUARANTINE_DIR", default=str(VAR_DIR / "quarantine")))
MODEL_CACHE_DIR = Path(env.str("MODEL_CACHE_DIR", default=str(VAR_DIR / "model-cache")))
if STORAGES["models"]["BACKEND"].endswith("FileSystemStorage"):
    STORAGES["models"] = _local_storage(MODEL_STORAGE_DIR)
if STORAGES["quarantine"]["BACKEND"].endswith("FileSystemStorage"):
    STORAGES["quarantine"] = _local_storage(QUARANTINE_DIR, private=True)
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}

# Hundreds of uploads come from 127.0.0.1; rate-limit tests set their own rate.
RATE_LIMIT_PER_IP = env.str("RATE_LIMIT_PER_IP", default="100000/m")
RATE_LIMIT_PER_KEY = env.str("RATE_LIMIT_PER_KEY", default="100000/m")
# ...and many of them hostile: automatic blocks are on only where a test turns them on.
AUTO_BLOCK_FLAGGED = env.int("AUTO_BLOCK_FLAGGED", default=0)

# No collectstatic in tests: WhiteNoise serves the apps' static files directly.
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
