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


def test_default_limits_fit_the_largest_application_and_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 9, item 10: 100 designs × 10 views (and thumbnails) fit; the body limit is
    not above the unzipped total (a body in between would be stored, then refused)."""
    for var in ("HWS_MAX_PACKAGE_BYTES", "HWS_ZIP_MAX_TOTAL_BYTES", "HWS_ZIP_MAX_ENTRIES", "HWS_ZIP_MAX_ENTRY_BYTES"):
        monkeypatch.delenv(var, raising=False)
    s = Settings()
    assert s.zip_max_entries >= 100 * 10 * 2 + 1 + 10
    assert s.max_package_bytes <= s.zip_max_total_bytes and s.zip_max_entry_bytes <= s.zip_max_total_bytes


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"HWS_MAX_PACKAGE_BYTES": str(600 << 20)}, "HWS_MAX_PACKAGE_BYTES"),
        ({"HWS_ZIP_MAX_TOTAL_BYTES": str(100 << 20)}, "HWS_MAX_PACKAGE_BYTES"),
        (
            {
                "HWS_ZIP_MAX_ENTRY_BYTES": str(1 << 30),
                "HWS_ZIP_MAX_TOTAL_BYTES": str(600 << 20),
                "HWS_MAX_PACKAGE_BYTES": str(100 << 20),
            },
            "HWS_ZIP_MAX_ENTRY_BYTES",
        ),
    ],
)
def test_inconsistent_limits_are_refused_naming_the_settings(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], named: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=named):
        Settings()


def test_structural_only_versions(monkeypatch: pytest.MonkeyPatch) -> None:
    from hws.st96.schemaset import StructuralOnly

    monkeypatch.delenv("HWS_STRUCTURAL_ONLY_VERSIONS", raising=False)
    assert Settings().structural_only_versions is None
    monkeypatch.setenv("HWS_STRUCTURAL_ONLY_VERSIONS", "V7_0, V4_0")
    assert Settings().structural_only_versions == ["V7_0", "V4_0"]
    monkeypatch.setenv("HWS_STRUCTURAL_ONLY_VERSIONS", "")
    assert Settings().structural_only_versions == []
    monkeypatch.setenv("HWS_STRUCTURAL_ONLY_VERSIONS", "seven")
    with pytest.raises(ValidationError, match="not an st96Version"):
        Settings()

    production, sandbox = StructuralOnly(), StructuralOnly(sandbox=True)
    assert not production.allows("V6_0", []) and not production.allows("V7_0", ["V6_0"])
    assert sandbox.allows("V6_0", []) and sandbox.allows("V7_0", []) and not sandbox.allows("V7_0", ["V6_0"])
    listed = StructuralOnly(frozenset({"V7_0"}), sandbox=True)
    assert listed.allows("V7_0", ["V6_0"]) and not listed.allows("V4_0", [])
    assert StructuralOnly(frozenset({"*"})).allows("V3_2", ["V6_0"])
    assert not StructuralOnly(frozenset()).allows("V6_0", [])
    assert "refused" in production.describe(["V6_0"]) and "sandbox" in sandbox.describe([])
