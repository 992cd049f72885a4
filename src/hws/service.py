"""The service, wired: settings → database, clock, registry, keys, token service.

Built once per process by :func:`build_service` and handed to the API app, the CLI's
operator commands and the worker; nothing here is a global.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from sqlalchemy import Engine

from hws.auth.access_tokens import AccessTokenAuthority
from hws.auth.assertion import AssertionPolicy
from hws.auth.dpop import Nonces, ProofPolicy, ProofVerifier
from hws.auth.keyring import Keyring
from hws.auth.source_address import IPNetwork, parse_networks
from hws.auth.token_service import TokenService
from hws.config import Settings
from hws.domain.clock import Clock, SystemClock
from hws.st96.schemaset import SchemaSet, StructuralOnly, default_schema_root
from hws.st96.zipsafe import ZipLimits
from hws.store import migration
from hws.store.audit import AuditLog
from hws.store.blobs import BlobStore, FilesystemBlobStore
from hws.store.change_feed import ChangeFeed
from hws.store.clients import ClientRegistry
from hws.store.database import create_db_engine, read_only
from hws.store.events import EventSignal
from hws.store.jobs import JobQueue
from hws.store.packed_files import StoredFiles
from hws.store.read_cache import ReadCache
from hws.store.sandbox_clock import SandboxClock
from hws.store.sqlite_change_feed import SqliteChangeFeed


@dataclass
class Service:
    settings: Settings
    clock: Clock
    engine: Engine
    registry: ClientRegistry
    keyring: Keyring
    authority: AccessTokenAuthority
    tokens: TokenService
    proofs: ProofVerifier
    #: the business calendar: deadlines, registration dates, publication weeks (movable
    #: in sandbox mode); ``clock`` stays the real time for authentication
    calendar: Clock
    blobs: BlobStore
    jobs: JobQueue
    schema_set: SchemaSet
    zip_limits: ZipLimits
    #: which st96Version values may go without an installed schema set
    structural_only: StructuralOnly
    audit: AuditLog
    trusted_proxies: tuple[IPNetwork, ...] = field(default_factory=tuple)
    #: clients and statuses kept by an API process (``read_cache`` on, a database file or PostgreSQL); live
    #: while ``change_feed`` runs (started by the API's lifespan)
    read_cache: ReadCache | None = None
    change_feed: ChangeFeed | SqliteChangeFeed | None = None
    #: rung when a transaction of this process that recorded events has committed (the
    #: feed's long polls and the webhook senders wait on it)
    event_signal: EventSignal = field(default_factory=EventSignal)

    @cached_property
    def reader(self) -> Engine:
        """``engine`` for reads (see :func:`hws.store.database.read_only`)."""
        return read_only(self.engine)

    @cached_property
    def files(self) -> StoredFiles:
        """A service request's stored files by their digest, wherever their bytes are
        (inside their package, or files of their own in ``blobs``)."""
        return StoredFiles(self.reader, self.blobs)

    def start(self) -> None:
        """Prepare what a serving process needs: schema up to date, a signing key."""
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        if self.settings.auto_migrate:
            migration.upgrade(self.engine)
        self.keyring.ensure()

    def close(self) -> None:
        self.audit.close()
        self.engine.dispose()


def create_blob_store(settings: Settings) -> BlobStore:
    """The deployment's blob store: the data folder (default) or S3-compatible storage."""
    if settings.blob_store == "s3":
        from hws.store.s3 import S3BlobStore

        return S3BlobStore.from_settings(settings)
    return FilesystemBlobStore(settings.blobs_dir)


def build_service(settings: Settings, clock: Clock | None = None, calendar: Clock | None = None) -> Service:
    """``clock`` is real time (authentication, leases); ``calendar`` the business calendar
    (default: the sandbox clock in sandbox mode, else ``clock``)."""
    clock = clock or SystemClock()
    assert settings.database_url is not None
    engine = create_db_engine(settings.database_url)
    registry = ClientRegistry(engine, clock)
    keyring = Keyring(settings.keys_dir, clock, settings.key_rotation_grace)
    authority = AccessTokenAuthority(
        keyring,
        issuer=settings.issuer,
        audience=settings.api_url,
        lifetime=settings.access_token_lifetime,
        leeway=settings.clock_skew_leeway,
    )
    policy = AssertionPolicy(
        issuer=settings.issuer,
        token_endpoint=settings.token_endpoint,
        audience=settings.assertion_audience,
        leeway=settings.clock_skew_leeway,
        max_lifetime=settings.assertion_max_lifetime,
        max_bytes=settings.assertion_max_bytes,
        accept_high_s=settings.assertion_accept_high_s,
    )
    audit = AuditLog(engine, clock)
    proofs = ProofVerifier(
        keyring,
        ProofPolicy(max_age=settings.dpop_proof_max_age, leeway=settings.clock_skew_leeway),
        Nonces(settings.dpop_nonce_lifetime) if settings.dpop_nonces else None,
    )
    tokens = TokenService(
        engine=engine, registry=registry, authority=authority, policy=policy, clock=clock, audit=audit,
        proofs=proofs, token_endpoint=settings.token_endpoint,
    )  # fmt: skip
    zip_limits = ZipLimits(
        max_entries=settings.zip_max_entries,
        max_total_bytes=settings.zip_max_total_bytes,
        max_entry_bytes=settings.zip_max_entry_bytes,
        max_ratio=float(settings.zip_max_ratio),
    )
    read_cache: ReadCache | None = None
    change_feed: ChangeFeed | SqliteChangeFeed | None = None
    if settings.read_cache and engine.dialect.name == "postgresql":
        read_cache = ReadCache()
        change_feed = ChangeFeed(engine, read_cache)
    elif settings.read_cache and engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
        read_cache = ReadCache()
        change_feed = SqliteChangeFeed(engine, read_cache)
    service = Service(
        read_cache=read_cache,
        change_feed=change_feed,
        settings=settings,
        clock=clock,
        engine=engine,
        registry=registry,
        keyring=keyring,
        authority=authority,
        tokens=tokens,
        proofs=proofs,
        calendar=calendar or (SandboxClock(engine, clock) if settings.sandbox else clock),
        blobs=create_blob_store(settings),
        jobs=JobQueue(engine, clock, lease_seconds=settings.job_lease_seconds, max_attempts=settings.job_max_attempts),
        schema_set=SchemaSet(default_schema_root(settings.data_dir)),
        zip_limits=zip_limits,
        structural_only=StructuralOnly(
            frozenset(settings.structural_only_versions) if settings.structural_only_versions is not None else None,
            sandbox=settings.sandbox,
        ),
        audit=audit,
        trusted_proxies=parse_networks(settings.trusted_proxies),
    )
    service.event_signal.watch(engine)
    return service
