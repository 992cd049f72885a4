"""Office-side connection profiles: where the file lives, what a stored profile holds, the
environment's overrides, what ``require`` refuses, and ``save`` keeping the other profiles."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hws.client import profile
from hws.client.errors import HWSError, ProfileError
from hws.client.profile import ENVIRONMENT, Profile


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A clean environment: none of the profile's variables set, the config home in tmp."""
    for var in (*ENVIRONMENT.values(), "HWS_PROFILE", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HWS_CONFIG_HOME", str(tmp_path / "config"))
    yield tmp_path / "config"


# ----------------------------------------------------------------------------- where


def test_the_config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("HWS_CONFIG_HOME", raising=False)
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    assert profile.config_home() == tmp_path / "home" / ".config" / "hws"
    monkeypatch.setenv("XDG_CONFIG_HOME", "")  # empty: not set
    assert profile.config_home() == tmp_path / "home" / ".config" / "hws"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert profile.config_home() == tmp_path / "xdg" / "hws"
    monkeypatch.setenv("HWS_CONFIG_HOME", str(tmp_path / "mine"))
    assert profile.config_home() == tmp_path / "mine"
    assert profile.profiles_path() == tmp_path / "mine" / "profiles.toml"


# ----------------------------------------------------------------------------- load


def test_without_a_file_the_defaults(home: Path) -> None:
    assert not home.exists()
    assert profile.load() == Profile()
    assert Profile().issuer == "http://127.0.0.1:8000/oauth2" and Profile().audience == "issuer"


def test_a_stored_profile_by_name(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home.mkdir()
    (home / "profiles.toml").write_text(
        '[profiles.default]\nclient_id = "kr-1"\nprivate_key = "/keys/kr.pem"\n\n'
        '[profiles.sandbox]\nissuer = "https://sandbox.example/oauth2"\nclient_id = "kr-2"\n'
        'scope = "hague/upload"\naudience = "token_endpoint"\nunknown = "ignored"\nport = 8443\n',
        "utf-8",
    )
    assert profile.load() == Profile(client_id="kr-1", private_key="/keys/kr.pem")
    sandbox = profile.load("sandbox")
    assert sandbox == Profile(
        issuer="https://sandbox.example/oauth2", client_id="kr-2", scope="hague/upload", audience="token_endpoint"
    )
    monkeypatch.setenv("HWS_PROFILE", "sandbox")
    assert profile.load() == sandbox  # HWS_PROFILE names the default
    assert profile.load("default").client_id == "kr-1"  # a name given wins
    assert profile.load("nobody") == Profile()  # an unknown name: the defaults


def test_stored_values_are_read_as_text(home: Path) -> None:
    home.mkdir()
    (home / "profiles.toml").write_text("[profiles.default]\nclient_id = 42\n", "utf-8")
    assert profile.load().client_id == "42"


def test_the_environment_overrides_the_stored_values(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    profile.save(Profile(client_id="stored", private_key="stored.pem", scope="s"))
    values = {
        "HWS_ISSUER": "https://hws.example/oauth2",
        "HWS_API_URL": "https://api.example",
        "HWS_CLIENT_ID": "env-id",
        "HWS_PRIVATE_KEY": "env.pem",
        "HWS_SCOPE": "hague/download",
        "HWS_CLIENT_ASSERTION_AUDIENCE": "token_endpoint",
        "HWS_DPOP_KEY": "dpop.pem",
    }
    assert set(values) == set(ENVIRONMENT.values())
    for var, value in values.items():
        monkeypatch.setenv(var, value)
    assert profile.load() == Profile(
        issuer="https://hws.example/oauth2",
        api_url="https://api.example",
        client_id="env-id",
        private_key="env.pem",
        scope="hague/download",
        audience="token_endpoint",
        dpop_key="dpop.pem",
    )
    assert profile.load(environment=False) == Profile(client_id="stored", private_key="stored.pem", scope="s")
    monkeypatch.setenv("HWS_CLIENT_ID", "")  # empty: not an override
    assert profile.load().client_id == "stored"


def test_the_services_assertion_audience_setting_is_not_the_kits(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HWS_ASSERTION_AUDIENCE", "strict")
    assert profile.load().audience == "issuer"


@pytest.mark.parametrize(
    "text",
    [
        "[profiles.default\nclient_id = 'x'\n",  # not TOML
        "[profiles.default]\nclient_id = 'x'\nclient_id = 'y'\n",  # a key twice
    ],
)
def test_an_unreadable_file_is_a_profile_error(home: Path, text: str) -> None:
    home.mkdir()
    (home / "profiles.toml").write_text(text, "utf-8")
    with pytest.raises(ProfileError, match=r"profiles\.toml"):
        profile.load()


def test_a_file_that_is_not_utf8_is_a_profile_error(home: Path) -> None:
    home.mkdir()
    (home / "profiles.toml").write_bytes(b'[profiles.default]\nclient_id = "\xff"\n')
    with pytest.raises(ProfileError, match=r"profiles\.toml"):
        profile.load()
    assert issubclass(ProfileError, HWSError)


def test_entries_that_are_not_tables_are_left_out(home: Path) -> None:
    home.mkdir()
    (home / "profiles.toml").write_text('[profiles]\ndefault = "not a table"\n\n[profiles.other]\nclient_id = "o"\n', "utf-8")
    assert profile.load() == Profile()
    assert profile.load("other").client_id == "o"


def test_a_profiles_key_that_is_not_a_table_is_a_profile_error(home: Path) -> None:
    home.mkdir()
    (home / "profiles.toml").write_text("profiles = 1\n", "utf-8")
    with pytest.raises(ProfileError):
        profile.load()


# ----------------------------------------------------------------------------- require


def test_require_names_what_is_missing_and_where_to_set_it(home: Path) -> None:
    with pytest.raises(ProfileError) as raised:
        Profile().require()
    assert "client_id, private_key" in str(raised.value) and "hws configure" in str(raised.value)
    assert "HWS_CLIENT_ID, HWS_PRIVATE_KEY" in str(raised.value)
    with pytest.raises(ProfileError, match=r"set issuer with .* or HWS_ISSUER$"):
        Profile(issuer="", client_id="c", private_key="k").require()
    with pytest.raises(ProfileError, match="set private_key"):
        Profile(client_id="c", private_key="").require()


@pytest.mark.parametrize("audience", ["issuer", "token_endpoint"])
def test_require_returns_a_complete_profile(audience: str) -> None:
    complete = Profile(client_id="c", private_key="k", audience=audience)
    assert complete.require() is complete


@pytest.mark.parametrize("audience", ["", "Issuer", "token-endpoint", "both"])
def test_require_refuses_an_unknown_audience(audience: str) -> None:
    with pytest.raises(ProfileError, match="audience must be one of issuer, token_endpoint"):
        Profile(client_id="c", private_key="k", audience=audience).require()


# ----------------------------------------------------------------------------- save


def test_save_writes_a_profile_load_reads_back(home: Path) -> None:
    saved = Profile(issuer="https://hws.example/oauth2", client_id="kr-1", private_key="/k.pem", dpop_key="/d.pem")
    path = profile.save(saved)
    assert path == home / "profiles.toml" and path.is_file()
    assert profile.load() == saved
    text = path.read_text("utf-8")
    assert text.startswith("# hws office-kit profiles (hws configure)\n")
    assert "api_url" not in text and "scope" not in text  # None is not written
    assert not (home / ".profiles.toml.tmp").exists()


def test_save_keeps_the_other_profiles_and_replaces_its_own(home: Path) -> None:
    profile.save(Profile(client_id="a", scope="old"), "office a")
    profile.save(Profile(client_id="b"), "b.sandbox")
    profile.save(Profile(client_id="a2"), "office a")  # replaced whole: scope is gone
    assert profile.load("office a", environment=False) == Profile(client_id="a2")
    assert profile.load("b.sandbox", environment=False) == Profile(client_id="b")
    assert profile.load(environment=False) == Profile()


def test_save_keeps_what_another_version_wrote(home: Path) -> None:
    home.mkdir()
    (home / "profiles.toml").write_text('[profiles.old]\nclient_id = "o"\nfuture_setting = "kept"\n', "utf-8")
    profile.save(Profile(client_id="n"), "new")
    assert 'future_setting = "kept"' in (home / "profiles.toml").read_text("utf-8")
    assert profile.load("old").client_id == "o"


def test_save_refuses_to_overwrite_an_unreadable_file(home: Path) -> None:
    home.mkdir()
    broken = "[profiles.default\n"
    (home / "profiles.toml").write_text(broken, "utf-8")
    with pytest.raises(ProfileError):
        profile.save(Profile(client_id="x"))
    assert (home / "profiles.toml").read_text("utf-8") == broken


text = st.text(alphabet=st.characters(blacklist_categories=("Cs",), max_codepoint=0xFFFF), max_size=30)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=60)
@given(name=text.filter(bool), client_id=text, private_key=text)
def test_any_text_in_the_basic_plane_survives_save_and_load(home: Path, name: str, client_id: str, private_key: str) -> None:
    saved = Profile(client_id=client_id, private_key=private_key, scope='a "quoted" \\ scope\n')
    profile.save(saved, name)
    assert profile.load(name, environment=False) == saved
    os.remove(profile.profiles_path())


def test_a_character_beyond_the_basic_plane_survives_save_and_load(home: Path) -> None:
    profile.save(Profile(client_id="kr-1"), "default")
    saved = Profile(client_id="kr-2", private_key="/keys/\U0001f511-office.pem")
    profile.save(saved, "keys")
    assert profile.load("keys", environment=False) == saved
    assert profile.load("default", environment=False).client_id == "kr-1"
