"""keyturn: rotating refresh tokens and short-lived JWT access tokens.

Three faces: the HTTP service (``keyturn serve`` or ``create_app``), the
library (``TokenService`` via ``build_runtime``), and the client.

Importing ``keyturn`` loads nothing of the server: a resource server or a
client installs only the light face (``keyturn.verify``, ``keyturn.client``).
The server names below are imported on first use and need
``pip install 'keyturn[server]'``.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from keyturn.clock import Clock, FrozenClock, SystemClock
from keyturn.core.tokens import AccessClaims
from keyturn.errors import KeyturnError

if TYPE_CHECKING:
    from keyturn.config import Settings, load_settings
    from keyturn.http.app import create_app
    from keyturn.service.tokens import TokenPair, TokenService
    from keyturn.service.wiring import Runtime, build_runtime

# Server names: where each lives, imported when first asked for.
_SERVER = {
    "Settings": "keyturn.config",
    "load_settings": "keyturn.config",
    "create_app": "keyturn.http.app",
    "Runtime": "keyturn.service.wiring",
    "build_runtime": "keyturn.service.wiring",
    "TokenPair": "keyturn.service.tokens",
    "TokenService": "keyturn.service.tokens",
}


def __getattr__(name: str) -> object:
    module = _SERVER.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


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
