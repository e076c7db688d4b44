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
