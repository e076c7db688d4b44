"""Settings: the documented defaults, and one clear line for a bad value."""

from __future__ import annotations

import pytest

from keyturn.config import Settings, load_settings
from keyturn.errors import ConfigError


def test_defaults_follow_the_seeds(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(__import__("os").environ):
        if name.startswith("KEYTURN_"):
            monkeypatch.delenv(name)
    s = load_settings()
    assert (s.access_token_ttl, s.refresh_token_ttl, s.session_max_age, s.reuse_interval) == (1800, 172800, 2592000, 10)
    assert s.database_url == "sqlite:///./keyturn.db"
    assert s.session_store_url is None
    assert (s.max_sessions_per_user, s.signing_alg, s.registration, s.clock_leeway) == (0, "EdDSA", "open", 5)
    assert s.trusted_proxies == []


def test_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEYTURN_SIGNING_ALG", "ES256")
    monkeypatch.setenv("KEYTURN_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.1")
    monkeypatch.setenv("KEYTURN_MAX_SESSIONS_PER_USER", "1")
    s = load_settings()
    assert (s.signing_alg, s.trusted_proxies, s.max_sessions_per_user) == ("ES256", ["10.0.0.0/8", "192.0.2.1"], 1)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("KEYTURN_CLOCK_LEEWAY", "61"),
        ("KEYTURN_CLOCK_LEEWAY", "-1"),
        ("KEYTURN_ACCESS_TOKEN_TTL", "soon"),
        ("KEYTURN_SIGNING_ALG", "none"),
        ("KEYTURN_SIGNING_ALG", "RS256"),
        ("KEYTURN_REGISTRATION", "maybe"),
        ("KEYTURN_TRUSTED_PROXIES", "not-a-cidr"),
        ("KEYTURN_DATABASE_URL", "oracle://x"),
        ("KEYTURN_MAX_SESSIONS_PER_USER", "-3"),
    ],
)
def test_bad_value_names_the_setting(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert message.startswith(name + ":") and "\n" not in message


def test_settings_are_not_read_at_import() -> None:
    import importlib

    import keyturn.config

    importlib.reload(keyturn.config)  # importing builds nothing
    assert not any(isinstance(v, Settings) for v in vars(keyturn.config).values())


def test_master_key_must_be_strong(make_settings: object) -> None:
    from keyturn.service.masterkey import resolve_master_key

    with pytest.raises(ConfigError, match="KEYTURN_MASTER_KEY"):
        resolve_master_key(Settings(master_key="c2hvcnQ"))
    with pytest.raises(ConfigError, match="KEYTURN_MASTER_KEY"):
        resolve_master_key(Settings(database_url="postgresql://x/y"))


def test_every_setting_is_described_once_on_its_field() -> None:
    """The field's description is the only documentation of a setting (the
    reference page is generated from it)."""
    from keyturn.cli import settings_view

    missing = [name for name, field in Settings.model_fields.items() if not (field.description or "").strip()]
    assert missing == []
    assert not hasattr(settings_view, "DESCRIPTIONS")


def test_secrets_are_exactly_the_fields_kept_out_of_repr() -> None:
    from keyturn.cli.settings_view import is_secret

    secret = {name for name in Settings.model_fields if is_secret(name)}
    assert secret == {"master_key", "metrics_token", "resource_clients", "hs256_secret", "webhook_secret"}
