"""Documented path of ``keyturn.resource.adapters.starlette``."""

from __future__ import annotations

from keyturn.resource.adapters.starlette import KeyturnBackend, KeyturnUser, keyturn_middleware, on_error

__all__ = ["KeyturnBackend", "KeyturnUser", "keyturn_middleware", "on_error"]
