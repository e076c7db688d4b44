"""Documented path of ``keyturn.resource.adapters.fastapi``."""

from __future__ import annotations

from keyturn.resource.adapters.fastapi import KeyturnHTTPException, install, require_user

__all__ = ["KeyturnHTTPException", "install", "require_user"]
