"""Settings as people read them: the effective values with secrets masked
(``keyturn config``), and the reference page generated from the Settings
class (``keyturn config --reference`` writes docs/configuration.md), so the
documentation cannot drift from the code."""

from __future__ import annotations

import os
import re
from typing import Any

from pydantic.fields import FieldInfo

from keyturn.config import Settings

MASK = "********"
_SECRET_NAME = re.compile(r"secret|key|token|password", re.IGNORECASE)
_URL_PASSWORD = re.compile(r"(?P<head>[a-z0-9+]+://[^:/@]*:)(?P<pw>[^@]*)(?P<tail>@)", re.IGNORECASE)

# Short explanations for the reference page; a field's own ``description``
# wins when it has one.
DESCRIPTIONS: dict[str, str] = {
    "database_url": "SQL database for users, keys, events (and sessions unless `session_store_url` is set). "
                    "`sqlite:///path`, `postgresql://…`, `mysql://…`, `mariadb://…`.",
    "session_store_url": "Separate session store: an SQL URL or `redis://…` / `redis+cluster://…`.",
    "access_token_ttl": "Access token lifetime, seconds.",
    "refresh_token_ttl": "Refresh token idle lifetime, seconds; slides forward on every refresh.",
    "session_max_age": "Absolute session lifetime, seconds; after it only a new login helps.",
    "reuse_interval": "Grace window, seconds: a retry with the just-rotated token gets the same successor.",
    "max_sessions_per_user": "Live sessions per user; 0 = unlimited, 1 = a new login ends the old one, "
                             "N evicts the least recently used.",
    "signing_alg": "Access-token signature algorithm.",
    "issuer": "`iss` claim of access tokens.",
    "audience": "`aud` claim of access tokens.",
    "registration": "Whether `POST /auth/register` is open.",
    "master_key": "Master key (base64, 32 bytes): encrypts signing keys, derives the refresh MAC key. "
                  "Required unless SQLite. Secret.",
    "master_key_file": "File holding the master key (default: next to the SQLite database).",
    "clock_leeway": "Leeway for `exp`/`nbf`/`iat`, seconds.",
    "trusted_proxies": "Comma-separated CIDRs whose `X-Forwarded-For` is believed; default none.",
    "password_min_length": "Minimum length of a new password.",
    "argon2_time_cost": "argon2id iterations.",
    "argon2_memory_cost": "argon2id memory, KiB.",
    "argon2_parallelism": "argon2id lanes.",
    "max_body_bytes": "Largest request body accepted.",
    "store_timeout": "Seconds before a store call fails closed with 503 `store_unavailable`.",
    "pool_size": "Database connection pool size per process.",
    "pool_timeout": "Seconds to wait for a pooled connection.",
    "cookie_secure": "`Secure` flag of the refresh cookie: `auto` = when served over https.",
    "log_level": "Log level: debug, info, warning, error.",
    "log_format": "`json` lines, readable `text`, or `auto` (text on a terminal, JSON otherwise).",
    "metrics_token": "When set, `GET /metrics` requires `Authorization: Bearer <token>` (compared in constant time). "
                     "Secret.",
}


def env_name(field: str) -> str:
    return f"KEYTURN_{field.upper()}"


def is_secret(name: str) -> bool:
    """Anything named like a secret is masked (paths and durations are not secrets)."""
    return bool(_SECRET_NAME.search(name)) and not name.endswith(("_file", "_ttl"))


def mask(name: str, value: Any) -> Any:
    if value is None or value == "":
        return value
    if is_secret(name):
        return MASK
    if isinstance(value, str) and "://" in value:
        return _URL_PASSWORD.sub(lambda m: m["head"] + MASK + m["tail"], value)
    return value


def effective(settings: Settings) -> list[dict[str, Any]]:
    """Every setting: name, env var, masked value and where it came from."""
    rows = []
    for name in Settings.model_fields:
        env = env_name(name)
        if env in os.environ:
            source = "env"
        elif name in settings.model_fields_set:
            source = "file"
        else:
            source = "default"
        rows.append({"name": name, "env": env, "value": mask(name, getattr(settings, name)), "source": source})
    return rows


def _type(field: FieldInfo) -> str:
    text = str(field.annotation).replace("typing.", "").replace("<class '", "").replace("'>", "")
    return text.replace("Literal", "one of ")


def _limits(field: FieldInfo) -> str:
    parts = []
    for meta in field.metadata:
        for attr, sign in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
            value = getattr(meta, attr, None)
            if value is not None:
                parts.append(f"{sign} {value}")
    return ", ".join(parts)


def _default(name: str, field: FieldInfo) -> str:
    if field.default_factory is not None:
        value: Any = field.default_factory()  # type: ignore[call-arg]
    else:
        value = field.default
    if value is None or value == []:
        return "—"
    return f"`{value}`"


def reference_markdown() -> str:
    lines = [
        "# Configuration reference",
        "",
        "<!-- Generated by `keyturn config --reference`; do not edit by hand. -->",
        "",
        "Every setting is an environment variable `KEYTURN_<NAME>`; the same names (lower case) may also be set",
        "in a TOML file named by `KEYTURN_CONFIG_FILE`. Environment variables win over the file.",
        "`keyturn config` prints the effective values (secrets masked); `keyturn doctor` checks them.",
        "",
        "| Variable | Type | Default | Limits | What it does |",
        "|---|---|---|---|---|",
    ]
    for name, field in Settings.model_fields.items():
        text = field.description or DESCRIPTIONS.get(name, "")
        lines.append(
            f"| `{env_name(name)}` | {_type(field).replace('|', 'or')} | {_default(name, field)} | "
            f"{_limits(field)} | {text.replace('|', '/')} |"
        )
    return "\n".join(lines) + "\n"
