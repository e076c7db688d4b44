"""WSGI entry point for gunicorn."""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.peers.drf.settings")

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()
