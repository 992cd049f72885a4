"""Settings: defaults, environment, TOML file."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from hws.config import AudiencePolicy, Settings


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("HWS_PUBLIC_URL", "HWS_DATA_DIR", "HWS_DATABASE_URL", "HWS_CONFIG", "HWS_ISSUER_URL"):
        monkeypatch.delenv(var, raising=False)
    s = Settings()
    assert s.public_url == "http://127.0.0.1:8000"
    assert s.issuer == "http://127.0.0.1:8000/oauth2"
    assert s.token_endpoint == "http://127.0.0.1:8000/oauth2/access_token"
    assert s.api_url == "http://127.0.0.1:8000/webservices/api/v1"
    assert s.database_url == "sqlite:///var/hws.sqlite3"
    assert s.assertion_audience is AudiencePolicy.COMPAT
    assert s.access_token_lifetime == 3600 and s.clock_skew_leeway == 30 and s.assertion_max_lifetime == 300


def test_environment_and_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "hws.toml"
    config.write_text('public_url = "https://hws.example/"\ntrusted_proxies = ["10.0.0.0/8"]\nclock_skew_leeway = 20\n')
    monkeypatch.setenv("HWS_CONFIG", str(config))
    monkeypatch.setenv("HWS_CLOCK_SKEW_LEEWAY", "45")
    monkeypatch.setenv("HWS_ASSERTION_AUDIENCE", "strict")
    s = Settings()
    assert s.public_url == "https://hws.example" and s.trusted_proxies == ["10.0.0.0/8"]
    assert s.clock_skew_leeway == 45 and s.assertion_audience is AudiencePolicy.STRICT


def test_bad_values_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HWS_TRUSTED_PROXIES", "not-a-network")
    with pytest.raises(ValidationError):
        Settings()
    monkeypatch.delenv("HWS_TRUSTED_PROXIES")
    monkeypatch.setenv("HWS_CLOCK_SKEW_LEEWAY", "600")
    with pytest.raises(ValidationError):
        Settings()


def test_trusted_proxies_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HWS_TRUSTED_PROXIES", "10.0.0.0/8, 192.168.0.0/16")
    assert Settings().trusted_proxies == ["10.0.0.0/8", "192.168.0.0/16"]
    monkeypatch.setenv("HWS_TRUSTED_PROXIES", '["10.0.0.0/8"]')
    assert Settings().trusted_proxies == ["10.0.0.0/8"]
