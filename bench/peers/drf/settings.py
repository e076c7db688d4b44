"""Django REST framework + simplejwt peer, configured as simplejwt's docs say
for rotation: ROTATE_REFRESH_TOKENS + BLACKLIST_AFTER_ROTATION with the
``token_blacklist`` app.  Users are created with the MD5 hasher purely so that
setting up 64 accounts takes milliseconds; refresh never hashes passwords.
The database is chosen by ``DRF_DB`` (``sqlite:PATH`` or ``postgres:NAME``)."""

from __future__ import annotations

import os
from datetime import timedelta

SECRET_KEY = os.environ.get("DRF_SECRET", "bench-secret-" + "x" * 40)
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "bench.peers.drf.urls"
USE_TZ = True
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
]
MIDDLEWARE = ["django.middleware.security.SecurityMiddleware", "django.middleware.common.CommonMiddleware"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

_db = os.environ.get("DRF_DB", "sqlite:/tmp/kt_bench_drf.sqlite3")
_kind, _, _name = _db.partition(":")
if _kind == "postgres":
    DATABASES = {"default": {"ENGINE": "django.db.backends.postgresql", "NAME": _name,
                             "USER": "postgres", "HOST": "127.0.0.1", "PORT": "5432",
                             "CONN_MAX_AGE": 600}}
else:
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": _name,
                             "OPTIONS": {"init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"}}}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ("rest_framework_simplejwt.authentication.JWTAuthentication",),
    "DEFAULT_RENDERER_CLASSES": ("rest_framework.renderers.JSONRenderer",),
    "DEFAULT_PARSER_CLASSES": ("rest_framework.parsers.JSONParser",),
}
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=30),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=2),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "ALGORITHM": "HS256",
}
LOGGING = {"version": 1, "disable_existing_loggers": False}
