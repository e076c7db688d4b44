"""Documented path of ``keyturn.resource.adapters.django``: add
``keyturn.adapters.django.KeyturnMiddleware`` to MIDDLEWARE."""

from __future__ import annotations

from keyturn.resource.adapters.django import KeyturnMiddleware, require_token

__all__ = ["KeyturnMiddleware", "require_token"]
