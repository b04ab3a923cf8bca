"""Settings for the test suite: fast hashing, no .env secrets needed.

The database and cache still come from DATABASE_URL and REDIS_URL, so the
same suite runs on SQLite locally and on PostgreSQL and Redis in CI.
"""

from .base import *  # noqa: F403
from .base import VAR_DIR

SECRET_KEY = "test-only-secret-key-not-used-anywhere-else-0123456789"  # noqa: S105
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
