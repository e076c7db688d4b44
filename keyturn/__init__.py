"""keyturn: rotating refresh tokens and short-lived JWT access tokens.

Three faces: the HTTP service (``keyturn serve`` or ``create_app``), the
library (``TokenService`` via ``build_runtime``), and the client.
"""

from __future__ import annotations

from keyturn.clock import Clock, FrozenClock, SystemClock
from keyturn.config import Settings, load_settings
from keyturn.core.tokens import AccessClaims
from keyturn.errors import KeyturnError
from keyturn.http.app import create_app
from keyturn.runtime import Runtime, build_runtime
from keyturn.service import TokenPair, TokenService

__all__ = [
    "AccessClaims",
    "Clock",
    "FrozenClock",
    "KeyturnError",
    "Runtime",
    "Settings",
    "SystemClock",
    "TokenPair",
    "TokenService",
    "build_runtime",
    "create_app",
    "load_settings",
]
