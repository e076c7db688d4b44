"""Settings: one object, read from ``KEYTURN_*`` environment variables (and
optionally a TOML file), built when asked for and passed in — never read at
import time."""

from __future__ import annotations

import difflib
import ipaddress
import os
import tomllib
from urllib.parse import urlsplit
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from keyturn.errors import ConfigError
from keyturn.store_urls import Family, scheme_of, sqlite_path as sqlite_file

Algorithm = Literal["EdDSA", "Ed25519", "ES256", "HS256"]
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
# KEYTURN_* variables that are not settings: the file itself, the client's,
# the examples' and the test suite's own variables.
NOT_SETTINGS = frozenset({
    "KEYTURN_CONFIG_FILE", "KEYTURN_URL", "KEYTURN_USERNAME", "KEYTURN_PASSWORD", "KEYTURN_TOKEN_FILE",
    "KEYTURN_CLIENT_ID", "KEYTURN_CLIENT_SECRET", "KEYTURN_VERIFIER", "KEYTURN_EXEMPT_PATHS",
    "KEYTURN_HOST", "KEYTURN_PORT",  # `keyturn serve --host/--port` from the environment
})
NOT_SETTINGS_PREFIXES = ("KEYTURN_TEST_", "KEYTURN_CI_", "KEYTURN_BENCH_", "KEYTURN_ATTACK_")


class Settings(BaseSettings):
    """Effective configuration. Defaults follow the seeds: access 30 min,
    refresh 2 days idle, 30 days absolute, 10 s reuse interval."""

    model_config = SettingsConfigDict(
        env_prefix="KEYTURN_", extra="ignore", frozen=True, validate_default=True
    )

    database_url: str = Field(
        "sqlite:///./keyturn.db",
        description="SQL database for users, keys, events (and sessions unless `session_store_url` is set): "
        "`sqlite:///path`, `postgresql://…`, `mysql://…`, `mariadb://…`.")
    session_store_url: str | None = Field(
        None, description="Separate session store: an SQL URL or `redis://…` / `redis+cluster://…`.")
    access_token_ttl: int = Field(1800, ge=10, le=86_400, description="Access token lifetime, seconds.")
    refresh_token_ttl: int = Field(
        172_800, ge=60, description="Refresh token idle lifetime, seconds; slides forward on every refresh.")
    session_max_age: int = Field(
        2_592_000, ge=60, description="Absolute session lifetime, seconds; after it only a new login helps.")
    reuse_interval: int = Field(
        10, ge=0, le=300,
        description="Grace window, seconds: a retry with the just-rotated token gets the same successor.")
    max_sessions_per_user: int = Field(
        0, ge=0, description="Live sessions per user; 0 = unlimited, 1 = a new login ends the old one, "
        "N evicts the least recently used.")
    signing_alg: Algorithm = Field(
        "EdDSA", description="Access-token signature algorithm: `EdDSA` (Ed25519 under its older name, which every "
        "JOSE library knows), `Ed25519` (the same signature under its RFC 9864 name), `ES256` or `HS256`.")
    issuer: str = Field(
        "keyturn", description="`iss` claim of access tokens and `issuer` of the RFC 8414 metadata: a URL (RFC 8414 §2, "
        "RFC 9068 §2.2). Unset: `public_url` when that is set, else `keyturn` (not a URL: a warning at start).")
    audience: str = Field("keyturn", description="`aud` claim of access tokens.")
    first_party_client_id: str = Field(
        "keyturn-app", min_length=1, max_length=128,
        description="`client_id` claim (RFC 9068 §2.2) of access tokens from `/auth/login`: your own app.")
    registration: Literal["open", "closed"] = Field("open", description="Whether `POST /auth/register` is open.")
    master_key: str | None = Field(
        None, repr=False, description="Master key (base64, 32 bytes): encrypts signing keys, derives the refresh "
        "MAC key. Required unless SQLite. Secret.")
    master_key_file: str | None = Field(
        None, description="File holding the master key (default: next to the SQLite database).")
    clock_leeway: int = Field(5, ge=0, le=60, description="Leeway for `exp`/`nbf`/`iat`, seconds.")
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated CIDRs whose `X-Forwarded-For` is believed; default none.")

    password_min_length: int = Field(12, ge=1, le=1024, description="Minimum length of a new password.")
    argon2_time_cost: int = Field(3, ge=1, description="argon2id iterations.")
    argon2_memory_cost: int = Field(65_536, ge=8, description="argon2id memory, KiB.")
    argon2_parallelism: int = Field(4, ge=1, description="argon2id lanes.")

    max_body_bytes: int = Field(16_384, ge=1024, le=1_048_576, description="Largest request body accepted.")
    store_timeout: float = Field(
        3.0, gt=0, le=60, description="Seconds before a store call fails closed with 503 `store_unavailable`.")
    max_clock_offset: float = Field(
        2.0, gt=0, le=60,
        description="Largest offset, seconds, between this host's clock and a store's (measured at start and every "
        "30 s): beyond it the replica is not ready and answers refreshes 503 `store_unavailable`.")
    pool_size: int = Field(
        10, ge=1, le=1000,
        description="Database connections per process: one pool per database, shared by every store on it "
        "(SQLite: always one).",
    )
    pool_timeout: float = Field(
        2.0, gt=0, le=60,
        description="Seconds a store call waits for a free pooled connection before it fails (503).",
    )
    cookie_secure: Literal["auto", "always", "never"] = Field(
        "auto", description="`Secure` flag of the refresh cookie: `auto` = when served over https.")
    log_level: str = Field("info", description="Log level: debug, info, warning, error.")

    # --- ops ---
    log_format: Literal["auto", "json", "text"] = Field(
        "auto", description="`json` lines, readable `text`, or `auto` (text on a terminal, JSON otherwise).")
    metrics_token: str | None = Field(
        None, repr=False, description="When set, `GET /metrics` requires `Authorization: Bearer <token>` "
        "(compared in constant time). Secret.")

    # --- client / verifier (revocation feed) ---
    resource_clients: str = Field(
        "", repr=False, description="Resource servers allowed to read `GET /auth/revocations` with HTTP Basic, "
        "as `id:secret,id2:secret2`, beside those registered with `keyturn clients add`. Secret.")
    revocation_max_wait: float = Field(
        25.0, ge=0, le=120, description="Longest a long-poll of `GET /auth/revocations` waits for news, seconds.")

    @field_validator("resource_clients")
    @classmethod
    def _check_resource_clients(cls, value: str) -> str:
        for item in filter(None, (i.strip() for i in value.split(","))):
            cid, sep, secret = item.partition(":")
            if not (sep and cid and secret):
                raise ValueError("each entry must be 'id:secret'")  # never echo the value
        return value

    def resource_client_secrets(self) -> dict[str, str]:
        """``KEYTURN_RESOURCE_CLIENTS`` as ``{id: secret}``."""
        out: dict[str, str] = {}
        for item in self.resource_clients.split(","):
            cid, sep, secret = item.strip().partition(":")
            if sep and cid and secret:
                out[cid] = secret
        return out

    # --- engines ---
    redis_key_prefix: str = Field(
        "kt", min_length=1, max_length=64, pattern=r"^[^{}\s]+$",
        description="Prefix of every Redis key, so several deployments can share one Redis (no braces: they pick the Cluster slot).",
    )

    # --- security ---
    # Network binding of refresh tokens. Default off: a strict binding logs
    # out every user whose network changes (phones between Wi-Fi and mobile,
    # VPNs, carrier NAT), while an attacker on the victim's network passes
    # anyway; DPoP is the strong binding. "alert" keeps users logged in and
    # emits binding_mismatch events; "enforce" refuses (401 binding_mismatch).
    ip_binding: Literal["off", "alert", "enforce"] = Field(
        "off", description="Network binding of refresh tokens: `off`, `alert` (allow, emit binding_mismatch) or "
        "`enforce` (401 binding_mismatch, token not consumed). See docs/security.md for the trade-off.")
    ip_binding_v4_prefix: int = Field(24, ge=0, le=32, description="IPv4 prefix length that counts as the same network.")
    ip_binding_v6_prefix: int = Field(64, ge=0, le=128, description="IPv6 prefix length that counts as the same network.")
    ua_binding: bool = Field(False, description="With binding on, also require the login's User-Agent.")
    login_max_failures: int = Field(
        10, ge=1, le=10_000, description="Consecutive failed logins per account before growing delays (429).")
    login_ip_max_failures: int = Field(
        20, ge=1, le=100_000, description="Failed logins per minute per client address (IPv6: per /64) before 429.")
    refresh_ip_max_invalid: int = Field(
        20, ge=1, le=100_000, description="Invalid refresh tokens per minute per client address before 429.")
    login_max_delay: int = Field(
        300, ge=1, le=3600, description="Cap of the per-account login delay, seconds (a soft lock, never a hard one).")
    dpop_iat_window: int = Field(60, ge=5, le=600, description="How old a DPoP proof's iat may be, seconds.")
    dpop_nonce: bool = Field(
        False, description="Require server-provided nonces in DPoP proofs (RFC 9449 §8, §9): a proof without a "
        "current nonce gets `use_dpop_nonce` and a fresh one in the `DPoP-Nonce` header (stateless; every replica "
        "accepts every replica's nonce).")
    dpop_algs: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["EdDSA", "Ed25519", "ES256", "ES384", "RS256", "PS256"],
        description="Algorithms accepted in DPoP proofs (asymmetric only), comma-separated.")
    hs256_secret: str | None = Field(
        None, repr=False, description="With signing_alg HS256: the shared signing secret, at least 32 bytes.")
    key_rotation_interval: int = Field(
        0, ge=0, description="Rotate the signing key every this many seconds (0 = only by `keyturn keys rotate`).")
    webhook_url: str | None = Field(None, description="POST every security event here (signed; needs webhook_secret).")
    webhook_secret: str | None = Field(
        None, repr=False, description="HMAC-SHA256 key of the Keyturn-Signature header on webhook calls.")
    webhook_queue_size: int = Field(
        1000, ge=1, le=100_000, description="Events waiting for the webhook; beyond it they are dropped (logged).")
    redis_allow_eviction: bool = Field(
        False, description="Start even if Redis may evict keys (maxmemory-policy other than noeviction); logs loudly.")
    public_url: str | None = Field(
        None, pattern=r"^https?://[^/?#\s]+(/[^?#\s]*)?$",
        description="The URL clients reach keyturn at (e.g. https://id.example.com): the origin DPoP proofs' htu "
        "must name and the scheme that decides the refresh cookie's Secure flag. Unset: the request's own, with "
        "X-Forwarded-Proto/-Host taken only from trusted proxies.")

    grace_same_network: bool = Field(
        True, description="A retry inside the grace window gets the successor only from the network (by the binding "
        "prefixes) of the request that rotated; false lets clients hop networks mid-refresh.")

    key_publish_ahead: float = Field(
        330, ge=0, le=86_400,
        description="A rotated-in signing key is in the JWKS this many seconds before any replica signs with it "
        "(at least the resource servers' JWKS cache age; the Verifier's default is 300).")

    @model_validator(mode="before")
    @classmethod
    def _issuer_from_public_url(cls, data: Any) -> Any:
        """The issuer is a URL: with no issuer set, the public URL is it."""
        if isinstance(data, dict) and not data.get("issuer") and data.get("public_url"):
            data = {**data, "issuer": str(data["public_url"]).rstrip("/")}
        return data

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        if value.lower() not in LOG_LEVELS:
            raise ValueError(f"{value!r} is not a log level (one of {', '.join(LOG_LEVELS)})")
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [p.strip() for p in value.split(",") if p.strip()]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _check_cidrs(cls, value: list[str]) -> list[str]:
        for cidr in value:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ValueError(f"{cidr!r} is not an IP address or CIDR") from None
        return value

    @field_validator("database_url", "session_store_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        found = scheme_of(value)
        if found is None:
            raise ValueError(f"unsupported URL scheme in {value!r}")
        # A URL that lost its slashes or its host (redis:/oops) would open
        # a default server, silently.
        if found.family != "memory" and "://" not in value:
            raise ValueError(f"{value!r} is not a URL: write {value.partition(':')[0]}://HOST...")
        if found.family == "redis" and not urlsplit(value).netloc.rpartition("@")[2]:
            raise ValueError(f"{value!r} names no host: write redis://HOST:6379/0")
        return value

    @field_validator("dpop_algs", mode="before")
    @classmethod
    def _split_algs(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [a.strip() for a in value.split(",") if a.strip()]
        return value

    @field_validator("dpop_algs")
    @classmethod
    def _check_dpop_algs(cls, value: list[str]) -> list[str]:
        # Asymmetric only: a DPoP proof proves possession of a private key.
        allowed = {"EdDSA", "Ed25519", "ES256", "ES384", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
        bad = [a for a in value if a not in allowed]
        if bad or not value:
            raise ValueError(f"unsupported DPoP algorithm(s): {bad or 'none given'}")
        return value

    @field_validator("hs256_secret")
    @classmethod
    def _check_hs256_secret(cls, value: str | None) -> str | None:
        # RFC 7518 §3.2: an HS256 key must have at least 256 bits.
        if value is not None and len(value.encode("utf-8")) < 32:
            raise ValueError("an HS256 secret must have at least 256 bits (32 bytes)")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml = _toml_path()
        if toml is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml))
        return tuple(sources)

    @property
    def sessions_url(self) -> str:
        """Where sessions live: ``session_store_url``, or the database when unset."""
        return self.session_store_url or self.database_url

    @property
    def database_family(self) -> Family:
        """The database's engine family, from the scheme table."""
        found = scheme_of(self.database_url)
        assert found is not None  # the validator refused every URL outside the table
        return found.family

    def sqlite_path(self) -> Path | None:
        """The database file when the database is SQLite, else ``None``."""
        if self.database_family != "sqlite":
            return None
        path = sqlite_file(self.database_url)
        return None if path in ("", ":memory:") else Path(path)


def _toml_path() -> Path | None:
    raw = os.environ.get("KEYTURN_CONFIG_FILE")
    return Path(raw) if raw else None


def _check_config_file() -> None:
    """A named file that cannot be read refuses to start: starting on the
    defaults would silently drop what it says (``registration = "closed"``)."""
    path = _toml_path()
    if path is None:
        return
    try:
        with path.open("rb") as fh:
            tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"KEYTURN_CONFIG_FILE: {path.absolute()} does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"KEYTURN_CONFIG_FILE: {path.absolute()} is a directory, not a TOML file") from None
    except OSError as exc:
        raise ConfigError(f"KEYTURN_CONFIG_FILE: cannot read {path.absolute()}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"KEYTURN_CONFIG_FILE: {path.absolute()} is not valid TOML: {exc}") from None


def load_settings(**overrides: Any) -> Settings:
    """Build settings, turning a validation failure into one line that names
    the setting (``ConfigError``), so a bad value never starts a service."""
    _check_config_file()
    try:
        return Settings(**overrides)
    except SettingsError as exc:  # a value the environment source could not even parse
        field = str(exc).split('"')[1] if '"' in str(exc) else "settings"
        raise ConfigError(f"KEYTURN_{field.upper()}: could not parse the value") from None
    except ValidationError as exc:
        err = exc.errors()[0]
        name = ".".join(str(p) for p in err.get("loc", ())) or "settings"
        env = f"KEYTURN_{name.split('.')[0].upper()}"
        message = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
        raise ConfigError(f"{env}: {message}") from None


def unknown_file_keys(path: Path) -> list[str]:
    """One warning per key or table of the TOML file that is no setting, as
    for environment variables: settings are top-level keys, so a table
    (``[keyturn]``) hides every key in it."""
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError):
        return []  # load_settings refuses such a file with its own line
    known = list(Settings.model_fields)
    found = []
    for key, value in data.items():
        if key in known:
            continue
        where = f"KEYTURN_CONFIG_FILE {path}"
        if isinstance(value, dict):
            inside = [k for k in value if k in known]
            hint = (f"; move {', '.join(inside)} to the top of the file, above any [table]" if inside
                    else "; settings are top-level keys (access_token_ttl = 1800), not tables")
            found.append(f"{where}: [{key}] is not a keyturn setting and is ignored{hint}")
            continue
        close = difflib.get_close_matches(key.lower(), known, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else ""
        found.append(f"{where}: {key} is not a keyturn setting and is ignored{hint}")
    return found


def unknown_variables(environ: dict[str, str] | None = None) -> list[str]:
    """One warning per ``KEYTURN_*`` variable that is no setting (a typo
    would otherwise be ignored in silence), naming the closest real one;
    likewise for the keys of the ``KEYTURN_CONFIG_FILE`` it names."""
    env = os.environ if environ is None else environ
    known = [f"KEYTURN_{name.upper()}" for name in Settings.model_fields]
    found = []
    for name in sorted(env):
        upper = name.upper()
        if not upper.startswith("KEYTURN_") or upper in known or upper in NOT_SETTINGS:
            continue
        if upper.startswith(NOT_SETTINGS_PREFIXES):
            continue
        close = difflib.get_close_matches(upper, known, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else ""
        found.append(f"{name} is not a keyturn setting and is ignored{hint}")
    config_file = env.get("KEYTURN_CONFIG_FILE")
    return found + (unknown_file_keys(Path(config_file)) if config_file else [])


def issuer_is_url(issuer: str) -> bool:
    """RFC 8414 §2: an https URL with no query or fragment (http accepted:
    loopback and tests)."""
    from urllib.parse import urlsplit

    parts = urlsplit(issuer)
    return parts.scheme in ("https", "http") and bool(parts.netloc) and not parts.query and not parts.fragment


def issuer_warnings(settings: Settings) -> list[str]:
    """An issuer that is not a URL: strict clients (RFC 8414 discovery,
    RFC 9068 validation) refuse it."""
    if issuer_is_url(settings.issuer):
        return []
    return [
        f"KEYTURN_ISSUER ({settings.issuer!r}) is not a URL: RFC 8414 discovery and strict RFC 9068 validators "
        "refuse it; set KEYTURN_PUBLIC_URL (the issuer follows it) or KEYTURN_ISSUER to the URL clients reach "
        "keyturn at, and give resource servers the same value"
    ]


def lifetime_warnings(settings: Settings) -> list[str]:
    """Lifetimes that contradict each other: the shorter one silently wins."""
    found = []
    if settings.session_max_age < settings.refresh_token_ttl:
        found.append(
            f"KEYTURN_SESSION_MAX_AGE ({settings.session_max_age} s) is below KEYTURN_REFRESH_TOKEN_TTL "
            f"({settings.refresh_token_ttl} s): every session ends at the absolute limit first"
        )
    shortest = min(settings.refresh_token_ttl, settings.session_max_age)
    if settings.access_token_ttl > shortest:
        found.append(
            f"KEYTURN_ACCESS_TOKEN_TTL ({settings.access_token_ttl} s) is above the session's lifetime "
            f"({shortest} s): access tokens outlive the sessions that issued them"
        )
    return found
