"""Settings: one object, read from ``KEYTURN_*`` environment variables (and
optionally a TOML file), built when asked for and passed in — never read at
import time."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from keyturn.errors import ConfigError

Algorithm = Literal["EdDSA", "ES256", "HS256"]


class Settings(BaseSettings):
    """Effective configuration. Defaults follow the seeds: access 30 min,
    refresh 2 days idle, 30 days absolute, 10 s reuse interval."""

    model_config = SettingsConfigDict(
        env_prefix="KEYTURN_", extra="ignore", frozen=True, validate_default=True
    )

    database_url: str = "sqlite:///./keyturn.db"
    session_store_url: str | None = None
    access_token_ttl: int = Field(1800, ge=10, le=86_400)
    refresh_token_ttl: int = Field(172_800, ge=60)
    session_max_age: int = Field(2_592_000, ge=60)
    reuse_interval: int = Field(10, ge=0, le=300)
    max_sessions_per_user: int = Field(0, ge=0)
    signing_alg: Algorithm = "EdDSA"
    issuer: str = "keyturn"
    audience: str = "keyturn"
    registration: Literal["open", "closed"] = "open"
    master_key: str | None = Field(None, repr=False)
    master_key_file: str | None = None
    clock_leeway: int = Field(5, ge=0, le=60)
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)

    password_min_length: int = Field(12, ge=1, le=1024)
    argon2_time_cost: int = Field(3, ge=1)
    argon2_memory_cost: int = Field(65_536, ge=8)
    argon2_parallelism: int = Field(4, ge=1)

    max_body_bytes: int = Field(16_384, ge=1024, le=1_048_576)
    store_timeout: float = Field(3.0, gt=0, le=60)
    pool_size: int = Field(10, ge=1, le=1000)
    pool_timeout: float = Field(2.0, gt=0, le=60)
    cookie_secure: Literal["auto", "always", "never"] = "auto"
    log_level: str = "info"

    # --- ops ---
    log_format: Literal["auto", "json", "text"] = "auto"
    metrics_token: str | None = Field(None, repr=False)

    # --- client / verifier (revocation feed) ---
    # Resource servers allowed to read GET /auth/revocations with HTTP Basic:
    # "id:secret,id2:secret2". Interim: issue 5's `keyturn clients add` replaces it.
    resource_clients: str = Field("", repr=False)
    revocation_max_wait: float = Field(25.0, ge=0, le=120)

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

    # --- security (issue 5) ---
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
    dpop_algs: list[str] = Field(
        default_factory=lambda: ["EdDSA", "ES256", "ES384", "RS256", "PS256"],
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
    key_publish_ahead: float = Field(
        330, ge=0, le=86_400,
        description="A rotated-in signing key is in the JWKS this many seconds before any replica signs with it "
        "(at least the resource servers' JWKS cache age; the Verifier's default is 300).")

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
        known = ("sqlite", "postgresql", "postgres", "mysql", "mariadb", "redis", "rediss", "redis+cluster", "memory")
        scheme = value.split(":", 1)[0].split("+", 1)[0].lower()
        if scheme == "redis" and value.lower().startswith("redis+cluster"):
            scheme = "redis+cluster"
        if ":" not in value or scheme not in known:
            raise ValueError(f"unsupported URL scheme in {value!r}")
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
        allowed = {"EdDSA", "ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
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
    def effective_session_store_url(self) -> str:
        return self.session_store_url or self.database_url

    def sqlite_path(self) -> Path | None:
        """The database file when the database is SQLite, else ``None``."""
        url = self.database_url
        if not url.startswith("sqlite"):
            return None
        path = url.split(":///", 1)[1] if ":///" in url else ""
        if path in ("", ":memory:"):
            return None
        return Path(path.split("?", 1)[0])


def _toml_path() -> Path | None:
    import os

    raw = os.environ.get("KEYTURN_CONFIG_FILE")
    return Path(raw) if raw else None


def load_settings(**overrides: Any) -> Settings:
    """Build settings, turning a validation failure into one line that names
    the setting (``ConfigError``), so a bad value never starts a service."""
    try:
        return Settings(**overrides)
    except SettingsError as exc:  # a value the environment source could not even parse
        field = str(exc).split('"')[1] if '"' in str(exc) else "settings"
        raise ConfigError(f"KEYTURN_{field.upper()}: could not parse the value") from None
    except ValidationError as exc:
        err = exc.errors()[0]
        name = ".".join(str(p) for p in err.get("loc", ())) or "settings"
        env = f"KEYTURN_{name.split('.')[0].upper()}"
        raise ConfigError(f"{env}: {err.get('msg', 'invalid value')}") from None
