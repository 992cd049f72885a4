"""Service settings: environment variables ``HWS_*`` and an optional TOML file.

One :class:`Settings` object is built at start and passed down; nothing reads the
environment behind its back. The TOML file is named by ``HWS_CONFIG`` (keys are the
field names below, without the prefix); environment variables win over it.

The office kit's own variables (``HWS_ISSUER``, ``HWS_API_URL``, ``HWS_CLIENT_ID``,
``HWS_PRIVATE_KEY``) belong to :mod:`hws.client.profile`, not to this class.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

if TYPE_CHECKING:
    from hws.domain.weeks import Schedule

API_PREFIX = "/webservices/api/v1"


class AudiencePolicy(StrEnum):
    """Which ``aud`` values a client assertion may carry."""

    #: the issuer identifier only (RFC 7523bis, FAPI 2.0)
    STRICT = "strict"
    #: the issuer identifier or the token endpoint URL (WIPO's example uses the latter)
    COMPAT = "compat"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HWS_", extra="ignore", toml_file=None)

    public_url: str = Field("http://127.0.0.1:8000", description="Base URL clients use to reach the service.")
    issuer_url: str | None = Field(None, description="OAuth2 issuer identifier; default {public_url}/oauth2.")
    data_dir: Path = Field(Path("./var"), description="Folder for the database, blobs and keys.")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default SQLite in the data folder.")
    auto_migrate: bool = Field(True, description="Apply database migrations when the service starts.")

    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="CIDRs of reverse proxies whose X-Forwarded-For is believed.",
    )

    access_token_lifetime: int = Field(3600, ge=60, le=86400, description="Seconds an access token is valid.")
    clock_skew_leeway: int = Field(
        30, ge=10, le=60, description="Seconds of clock skew tolerated (exp in the past, iat/nbf in the future)."
    )
    assertion_max_lifetime: int = Field(300, ge=10, le=3600, description="Max exp - (iat or now) of an assertion.")
    assertion_max_bytes: int = Field(8192, ge=1024, le=65536)
    assertion_audience: AudiencePolicy = AudiencePolicy.COMPAT
    assertion_accept_high_s: bool = Field(
        False,
        description="Accept ES256 client assertions whose signature is high-S (s > n/2). Off: refused "
        "(checklist auth rule 16). On only for offices signing with WIPO's Appendix C snippet as published "
        "(openssl makes a high-S signature every other run); single use does not depend on it.",
    )
    token_request_max_bytes: int = Field(65536, ge=4096, le=1048576)
    dpop_nonces: bool = Field(
        True,
        description="Require a server-provided nonce in DPoP proofs (RFC 9449 §8, §9): a proof without the "
        "current nonce is answered use_dpop_nonce with a DPoP-Nonce header, which clients retry with.",
    )
    dpop_nonce_lifetime: int = Field(
        300, ge=10, le=3600, description="Seconds a DPoP nonce is current; the previous one is still accepted."
    )
    dpop_proof_max_age: int = Field(
        60, ge=5, le=600, description="Seconds a DPoP proof's iat may lie in the past (the future: clock_skew_leeway)."
    )
    service_key_rotation_grace: int | None = Field(
        None, description="Seconds a rotated-out signing key stays in the JWKS; default token lifetime + leeway."
    )

    # Blob storage -----------------------------------------------------------------
    blob_store: str = Field("filesystem", pattern="^(filesystem|s3)$", description="Where packages and publications live.")
    s3_bucket: str | None = Field(None, description="Bucket for HWS_BLOB_STORE=s3.")
    s3_prefix: str = Field("hws/", description="Key prefix inside the bucket.")
    s3_endpoint_url: str | None = Field(None, description="S3-compatible endpoint (MinIO, moto, …); default AWS.")
    s3_region: str | None = None
    s3_presign_downloads: bool = Field(False, description="Answer publication downloads with a redirect to a presigned URL.")
    s3_presign_seconds: int = Field(300, ge=10, le=86400)

    # Import pipeline --------------------------------------------------------------
    max_package_bytes: int = Field(
        512 * 1024 * 1024,
        ge=1024,
        description="Largest accepted POST /request body; larger ones get 413. At most HWS_ZIP_MAX_TOTAL_BYTES.",
    )
    structural_only_versions: Annotated[list[str] | None, NoDecode] = Field(
        None,
        description="st96Version values (comma-separated, '*' for any) imported with structural checks only when "
        "no schema set of that version is installed. Unset: none, except in a sandbox while no set at all is installed.",
    )
    zip_max_entries: int = Field(
        5000, ge=1, description="Entries of a package: 100 designs × 10 views, their thumbnails, the XML and documents fit."
    )
    zip_max_total_bytes: int = Field(512 * 1024 * 1024, ge=1024, description="Uncompressed total of a package.")
    zip_max_entry_bytes: int = Field(64 * 1024 * 1024, ge=1024)
    zip_max_ratio: int = Field(100, ge=2, description="Largest compression ratio of one entry.")
    idempotency_retention: int = Field(86400, ge=60, description="Seconds an Idempotency-Key is remembered.")
    srn_start: int = Field(970000001, ge=970000000, le=970999999, description="First service request number.")
    job_lease_seconds: int = Field(60, ge=1, description="A job not finished within its lease is retaken.")
    job_max_attempts: int = Field(5, ge=1)
    worker_threads: int = Field(1, ge=0, le=32, description="Workers inside `hws serve` (0: run `hws worker` instead).")
    worker_poll_interval: float = Field(0.5, gt=0, le=30)
    read_cache: bool = Field(
        True,
        description="API processes keep clients and request statuses in memory, so a status poll needs no "
        "database read: kept current by change notifications (LISTEN/NOTIFY) on PostgreSQL, by a change log "
        "checked before every read (PRAGMA data_version) on SQLite.",
    )
    blob_orphan_grace: int = Field(
        900, ge=0, description="Seconds before an unreferenced blob or temporary upload is swept away."
    )

    # Life cycle and publication ---------------------------------------------------
    sandbox: bool = Field(False, description="Sandbox mode: the operator may move the service's calendar clock.")
    examination: str = Field("manual", pattern="^(manual|auto)$", description="manual (operator) or auto (sandbox rules).")
    auto_irregularity: str = Field(
        "formal",
        pattern="^(formal|always|never)$",
        description="Automatic examination: irregularity on formal problems only, always first, or never.",
    )
    irn_start: int = Field(200001, ge=1, le=999999, description="First international registration number (DM/nnnnnn).")
    publication_weekday: int = Field(5, ge=1, le=7, description="ISO weekday of the weekly publication (5 = Friday).")
    publication_time: str = Field("12:00", pattern=r"^[0-9]{2}:[0-9]{2}$")
    publication_timezone: str = "Europe/Zurich"
    scheduler: bool = Field(True, description="Run the weekly publisher (one leader among all processes).")
    scheduler_interval: float = Field(30.0, gt=0, description="Seconds between the scheduler's checks.")

    # Events and webhooks (docs/events.md) ---------------------------------------------
    event_retention_days: int = Field(
        30, ge=1, description="Days an event stays in the feed; a cursor older than that gets 410 (cursor-expired)."
    )
    event_page_size: int = Field(100, ge=1, le=1000, description="Most events one feed answer holds.")
    event_max_wait: int = Field(60, ge=0, le=300, description="Longest long-poll (the feed's wait=) in seconds.")
    event_poll_interval: float = Field(
        0.25, gt=0, le=5, description="While a long-poll waits, how often it looks for events other processes recorded."
    )
    webhook_allowed_networks: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="CIDRs webhook endpoints may resolve to although they are loopback, link-local or private "
        "(refused otherwise: SSRF).",
    )
    webhook_allow_http: bool = Field(False, description="Accept http:// webhook endpoints (default: https:// only).")
    webhook_timeout: float = Field(10.0, gt=0, le=60, description="Seconds one delivery may take (connect to last byte).")
    webhook_max_body_bytes: int = Field(
        256 * 1024, ge=1024, description="Largest event body sent; a larger event is dead-lettered, not sent."
    )
    webhook_max_response_bytes: int = Field(
        64 * 1024, ge=0, description="Bytes of an endpoint's answer read (the rest is not waited for)."
    )
    webhook_disable_after_days: float = Field(
        5.0, gt=0, description="An endpoint whose deliveries have all failed for this long is disabled (audited)."
    )
    webhook_delivery_threads: int = Field(
        1, ge=0, le=32, description="Webhook senders in `hws serve` and `hws worker` (0: none in this process)."
    )
    webhook_max_endpoints: int = Field(10, ge=1, le=100, description="Webhook endpoints one office may register.")

    # Protection ---------------------------------------------------------------------
    rate_limit_per_minute: int = Field(600, ge=0, description="API calls per client per minute and API process (0: off).")
    rate_limit_burst: int = Field(120, ge=1, description="Calls a client may make at once before the rate applies.")
    max_concurrent_per_client: int = Field(
        8, ge=0, description="Requests of one client in progress at once per process (0: off)."
    )
    token_rate_per_minute: int = Field(60, ge=0, description="Token requests per source address per minute and process (0: off).")
    upload_idle_timeout: float = Field(15.0, gt=0, description="Seconds an upload may send nothing before it is cut (408).")
    header_read_timeout: float = Field(
        20.0, gt=0, description="Seconds a client has to send a request's line and headers before the connection gets 408."
    )

    # Operator console ---------------------------------------------------------------
    console: bool = Field(True, description="Serve the operator console under /console.")
    console_idle_timeout: int = Field(1800, ge=1, le=86400, description="Seconds a console session may go unused before it ends.")
    console_absolute_timeout: int = Field(
        43200, ge=1, le=604800, description="Seconds a console session lasts at most, used or not."
    )
    console_max_failures: int = Field(
        5, ge=1, le=100, description="Failed sign-ins (password or code) in a row before an operator account is locked."
    )
    console_lockout: int = Field(900, ge=1, le=86400, description="Seconds a locked operator account stays locked.")
    console_sign_in_rate_per_minute: int = Field(
        30, ge=0, description="Console sign-in attempts (password or code) per source address per minute and process (0: off)."
    )
    console_require_totp: bool = Field(
        True, description="Every local operator account must set up a TOTP second factor at its first sign-in."
    )
    console_oidc_issuer: str | None = Field(
        None,
        description="Single sign-on: the OpenID Connect provider's issuer URL (discovery at /.well-known/openid-configuration).",
    )
    console_oidc_client_id: str | None = Field(None, description="Single sign-on: the console's client id at the provider.")
    console_oidc_client_secret: str | None = Field(None, description="Single sign-on: the console's client secret.")
    console_oidc_role_claim: str = Field(
        "hws_role", description="Single sign-on: the ID token / userinfo claim holding viewer, examiner or administrator."
    )
    console_oidc_name_claim: str = Field("preferred_username", description="Single sign-on: the claim naming the operator.")
    console_oidc_scopes: str = Field(
        "openid profile",
        description="Single sign-on: the scopes asked for (openid is always added); add the one that releases the role "
        "claim at providers that release it only with a scope of its own (the claim is also asked for by name, with the "
        "claims request parameter, where the provider supports it).",
    )

    log_level: str = "INFO"
    log_format: str = Field("json", pattern="^(json|text)$")

    @field_validator("trusted_proxies", "structural_only_versions", "webhook_allowed_networks", mode="before")
    @classmethod
    def _split_list(cls, value: Any) -> Any:
        """A list from the environment: JSON, or items separated by commas or blanks."""
        if isinstance(value, str) and value.strip().startswith("["):
            return json.loads(value)
        if isinstance(value, str):
            return [part for part in value.replace(",", " ").split() if part]
        return value

    @field_validator("structural_only_versions")
    @classmethod
    def _check_versions(cls, value: list[str] | None) -> list[str] | None:
        for version in value or []:
            if version != "*" and not re.fullmatch(r"V[0-9]+_[0-9]+", version):
                raise ValueError(f"{version!r} is not an st96Version (V6_0, V7_0, …) or '*'")
        return value

    @field_validator("trusted_proxies", "webhook_allowed_networks")
    @classmethod
    def _check_proxies(cls, value: list[str]) -> list[str]:
        for cidr in value:
            ipaddress.ip_network(cidr, strict=False)
        return value

    @field_validator("public_url", "issuer_url")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value

    @model_validator(mode="after")
    def _consistent_limits(self) -> Settings:
        """A body the import must refuse is refused before it is stored."""
        if self.max_package_bytes > self.zip_max_total_bytes:
            raise ValueError(
                f"HWS_MAX_PACKAGE_BYTES ({self.max_package_bytes}) is above HWS_ZIP_MAX_TOTAL_BYTES "
                f"({self.zip_max_total_bytes}): a package between the two would be stored, then refused; "
                "lower the first or raise the second"
            )
        if self.zip_max_entry_bytes > self.zip_max_total_bytes:
            raise ValueError(
                f"HWS_ZIP_MAX_ENTRY_BYTES ({self.zip_max_entry_bytes}) is above HWS_ZIP_MAX_TOTAL_BYTES "
                f"({self.zip_max_total_bytes}); lower it"
            )
        return self

    @model_validator(mode="after")
    def _defaults(self) -> Settings:
        if self.issuer_url is None:
            self.issuer_url = f"{self.public_url}/oauth2"
        if self.database_url is None:
            self.database_url = f"sqlite:///{(self.data_dir / 'hws.sqlite3').as_posix()}"
        return self

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
        config_file = os.environ.get("HWS_CONFIG")
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)

    # Derived URLs -------------------------------------------------------------------

    @property
    def issuer(self) -> str:
        assert self.issuer_url is not None
        return self.issuer_url

    @property
    def token_endpoint(self) -> str:
        return f"{self.issuer}/access_token"

    @property
    def jwks_uri(self) -> str:
        return f"{self.issuer}/jwks"

    @property
    def api_url(self) -> str:
        return f"{self.public_url}{API_PREFIX}"

    @property
    def key_rotation_grace(self) -> int:
        if self.service_key_rotation_grace is not None:
            return self.service_key_rotation_grace
        return self.access_token_lifetime + self.clock_skew_leeway

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def schedule(self) -> Schedule:
        from datetime import time

        from hws.domain.weeks import Schedule

        hours, minutes = (int(part) for part in self.publication_time.split(":"))
        return Schedule(weekday=self.publication_weekday, at=time(hours, minutes), zone=self.publication_timezone)

    @property
    def blobs_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def schemas_dir(self) -> Path:
        return self.data_dir / "schemas"
