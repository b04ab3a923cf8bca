"""WSGI entry point, used by gunicorn."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")

application = get_wsgi_application()

# Imported once Django is set up: the body cap reads the settings.
from inference_api.pipeline import API_PREFIX  # noqa: E402
from inference_api.upload.body import CappedInput  # noqa: E402

# Chunked API bodies are read through the byte cap (inference_api/upload/body.py).
application = CappedInput(application, api_prefix=API_PREFIX)
