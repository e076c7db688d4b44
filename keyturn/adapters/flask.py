"""Documented path of ``keyturn.resource.adapters.flask``."""

from __future__ import annotations

from keyturn.resource.adapters.flask import current_claims, require_token

__all__ = ["current_claims", "require_token"]
