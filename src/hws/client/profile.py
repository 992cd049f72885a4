"""Office-side connection profiles: where HWS is, who we are, which key we sign with.

Stored in ``$HWS_CONFIG_HOME/profiles.toml`` (default ``~/.config/hws``); the
environment (``HWS_ISSUER``, ``HWS_API_URL``, ``HWS_CLIENT_ID``, ``HWS_PRIVATE_KEY``,
``HWS_SCOPE``, ``HWS_PROFILE``, ``HWS_CLIENT_ASSERTION_AUDIENCE``, ``HWS_DPOP_KEY``) overrides the stored
values.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from hws.client.errors import ProfileError

ENVIRONMENT = {
    "issuer": "HWS_ISSUER",
    "api_url": "HWS_API_URL",
    "client_id": "HWS_CLIENT_ID",
    "private_key": "HWS_PRIVATE_KEY",
    "scope": "HWS_SCOPE",
    # Not HWS_ASSERTION_AUDIENCE: that is the service's setting (compat|strict, which
    # aud values it accepts); this one is which aud the office kit signs.
    "audience": "HWS_CLIENT_ASSERTION_AUDIENCE",
    "dpop_key": "HWS_DPOP_KEY",
}
AUDIENCES = ("issuer", "token_endpoint")


@dataclass(frozen=True)
class Profile:
    issuer: str = "http://127.0.0.1:8000/oauth2"
    api_url: str | None = None
    client_id: str | None = None
    private_key: str | None = None
    scope: str | None = None
    #: what the assertion's ``aud`` names: the issuer (RFC 7523bis) or the token endpoint (WIPO's example)
    audience: str = "issuer"
    #: the DPoP key's PEM file (RFC 9449; ``hws configure --dpop``): tokens bound to it
    dpop_key: str | None = None

    def require(self) -> Profile:
        missing = [name for name in ("issuer", "client_id", "private_key") if not getattr(self, name)]
        if missing:
            raise ProfileError(
                f"profile incomplete: set {', '.join(missing)} with `hws configure` "
                f"or {', '.join(ENVIRONMENT[m] for m in missing)}"
            )
        if self.audience not in AUDIENCES:
            raise ProfileError(f"audience must be one of {', '.join(AUDIENCES)} ({ENVIRONMENT['audience']}, --audience)")
        return self


def config_home() -> Path:
    if os.environ.get("HWS_CONFIG_HOME"):
        return Path(os.environ["HWS_CONFIG_HOME"])
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "hws"


def profiles_path() -> Path:
    return config_home() / "profiles.toml"


def _read_all(path: Path) -> dict[str, dict[str, str]]:
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ProfileError(f"{path}: {exc}") from None
    profiles = data.get("profiles", {})
    if not isinstance(profiles, dict):
        raise ProfileError(f"{path}: 'profiles' must be a table of profiles ([profiles.NAME])")
    return {k: v for k, v in profiles.items() if isinstance(v, dict)}


def load(name: str | None = None, *, environment: bool = True) -> Profile:
    name = name or os.environ.get("HWS_PROFILE") or "default"
    stored = _read_all(profiles_path()).get(name, {})
    known = {f.name for f in fields(Profile)}
    profile = Profile(**{k: str(v) for k, v in stored.items() if k in known})
    if environment:
        overrides = {field: os.environ[var] for field, var in ENVIRONMENT.items() if os.environ.get(var)}
        profile = replace(profile, **overrides)
    return profile


def _toml_string(value: str) -> str:
    """A TOML basic string: JSON's escapes without ``ensure_ascii`` (a character beyond
    U+FFFF stays itself, not a surrogate pair TOML refuses), and DEL escaped as TOML asks."""
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


def save(profile: Profile, name: str = "default") -> Path:
    path = profiles_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    profiles = _read_all(path)
    profiles[name] = {k: v for k, v in asdict(profile).items() if v is not None}
    lines = ["# hws office-kit profiles (hws configure)"]
    for profile_name, values in profiles.items():
        lines.append(f"\n[profiles.{_toml_string(profile_name)}]")
        lines.extend(f"{key} = {_toml_string(str(value))}" for key, value in values.items())
    tmp = path.with_name(".profiles.toml.tmp")
    tmp.write_text("\n".join(lines) + "\n", "utf-8")
    os.replace(tmp, path)
    return path
