"""The single-process quickstart: SQLite, local storage, in-process cache.

`make run` writes a `.env` with a random SECRET_KEY; without one this
profile refuses to start, like production.
"""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import SECRET_KEY

if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY is not set: run `make run` once, or export SECRET_KEY.")
