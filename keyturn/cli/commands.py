"""The whole ``keyturn`` command tree: every command joins the apps in
``keyturn.cli.common`` here, in the order ``keyturn --help`` lists them."""

from __future__ import annotations

from keyturn.cli import ops, security
from keyturn.cli.common import app, keys_app

ops.register(app)

from keyturn.cli import serve, sessions, users  # noqa: E402 - their commands join the apps on import

security.register(app, keys_app)

from keyturn.audit.command import register as register_audit  # noqa: E402

register_audit(app)

__all__ = ["app", "serve", "sessions", "users"]
