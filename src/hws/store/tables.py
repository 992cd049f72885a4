"""The database schema (SQLAlchemy Core). Changes go through Alembic migrations."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from hws.store.types import UTCDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

clients = Table(
    "clients",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column("office", String(2), nullable=False, index=True),
    Column("name", String(200), nullable=False, server_default=""),
    # the access request form's contacts (Appendix B); "" when not given
    Column("business_owner", String(200), nullable=False, server_default=""),
    Column("business_owner_email", String(320), nullable=False, server_default=""),
    Column("technical_contact", String(200), nullable=False, server_default=""),
    Column("technical_contact_email", String(320), nullable=False, server_default=""),
    Column("examining", Boolean, nullable=False, server_default="0"),
    Column("scopes", Text, nullable=False),
    Column("default_scopes", Text, nullable=False),
    Column("networks", Text, nullable=False),
    Column("active", Boolean, nullable=False, server_default="1"),
    Column("not_before", UTCDateTime, nullable=True),
    Column("not_after", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # bearer | dpop-allowed | dpop-required (RFC 9449 sender-constrained tokens)
    Column("token_binding", String(16), nullable=False, server_default="bearer"),
)

client_keys = Table(
    "client_keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("client_id", String(64), ForeignKey("clients.client_id", ondelete="CASCADE"), nullable=False, index=True),
    Column("alg", String(10), nullable=False),
    Column("public_jwk", Text, nullable=False),
    Column("certificate_pem", Text, nullable=False),
    Column("subject", String(400), nullable=False, server_default=""),
    Column("not_before", UTCDateTime, nullable=False),
    Column("not_after", UTCDateTime, nullable=False),
    Column("added_at", UTCDateTime, nullable=False),
)

#: Single-use record of client assertions (jti, or the assertion's hash), shared by
#: every process: the primary key makes check-and-insert atomic.
assertion_uses = Table(
    "assertion_uses",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("expires_at", BigInteger, nullable=False),
    Index("ix_assertion_uses_expires_at", "expires_at"),
)

#: 64-bit ids that autoincrement on SQLite too (where only INTEGER PRIMARY KEY does).
Id64 = BigInteger().with_variant(Integer(), "sqlite")

#: Immutable content-addressed objects known to the database. A blob file with no row
#: here is an orphan (a crash between fsync and commit) and is swept.
blobs = Table(
    "blobs",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    # A file of a package kept inside the stored package (``packed_in``, another blob):
    # ``packed_size`` bytes from ``packed_offset``, stored (method 0) or deflated (8).
    # NULL: the blob is a file of its own in the blob store.
    Column("packed_in", String(64), nullable=True),
    Column("packed_offset", BigInteger, nullable=True),
    Column("packed_size", BigInteger, nullable=True),
    Column("packed_method", SmallInteger, nullable=True),
)

imports = Table(
    "imports",
    metadata,
    Column("import_id", String(40), primary_key=True),
    Column("client_id", String(64), ForeignKey("clients.client_id"), nullable=False, index=True),
    Column("office", String(2), nullable=False),
    Column("blob_sha256", String(64), ForeignKey("blobs.sha256"), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("received_at", UTCDateTime, nullable=False),
    Column("processed_at", UTCDateTime, nullable=True),
    Column("transaction", String(60), nullable=True),
    Column("office_reference", String(200), nullable=True),
    Column("srn", String(9), nullable=True),
    Column("problems", Text, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("client_id", String(64), nullable=False),
    Column("key", String(255), nullable=False),
    Column("import_id", String(40), ForeignKey("imports.import_id"), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("expires_at", BigInteger, nullable=False, index=True),
    PrimaryKeyConstraint("client_id", "key"),
)

#: The job queue: claimed with a lease; a job whose worker dies is retaken when the
#: lease expires. Times are epoch milliseconds.
jobs = Table(
    "jobs",
    metadata,
    Column("id", Id64, primary_key=True, autoincrement=True),
    Column("kind", String(40), nullable=False),
    Column("ref", String(64), nullable=False),
    Column("status", String(10), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("max_attempts", Integer, nullable=False),
    Column("run_after", BigInteger, nullable=False),
    Column("lease_owner", String(80), nullable=True),
    Column("lease_expires_at", BigInteger, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_jobs_status_run_after", "status", "run_after"),
    Index("ix_jobs_kind_ref", "kind", "ref"),
)

counters = Table(
    "counters",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

service_requests = Table(
    "service_requests",
    metadata,
    Column("srn", String(9), primary_key=True),
    Column("import_id", String(40), ForeignKey("imports.import_id"), nullable=False, unique=True),
    Column("client_id", String(64), nullable=False),
    Column("office", String(2), nullable=False, index=True),
    Column("transaction", String(60), nullable=False),
    Column("status", String(32), nullable=False, index=True),
    Column("office_reference", String(200), nullable=True),
    Column("target_irn", String(20), nullable=True),
    Column("irn", String(20), nullable=True, unique=True),
    Column("expected_publication", Date, nullable=True),
    Column("regularization_deadline", Date, nullable=True),
    Column("fee_shortfall", Boolean, nullable=False, server_default="0"),
    Column("registered_at", UTCDateTime, nullable=True, index=True),
    Column("recorded_against", String(9), nullable=True),
    Column("data", Text, nullable=False),
    Column("version", Integer, nullable=False, server_default="1"),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

sr_designations = Table(
    "sr_designations",
    metadata,
    Column("srn", String(9), ForeignKey("service_requests.srn", ondelete="CASCADE"), nullable=False),
    Column("office", String(2), nullable=False, index=True),
    PrimaryKeyConstraint("srn", "office"),
)

sr_files = Table(
    "sr_files",
    metadata,
    Column("srn", String(9), ForeignKey("service_requests.srn", ondelete="CASCADE"), nullable=False),
    Column("path", String(500), nullable=False),
    Column("sha256", String(64), ForeignKey("blobs.sha256"), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("media_type", String(100), nullable=False),
    Column("kind", String(60), nullable=True),
    PrimaryKeyConstraint("srn", "path"),
)

sr_events = Table(
    "sr_events",
    metadata,
    Column("id", Id64, primary_key=True, autoincrement=True),
    Column("srn", String(9), ForeignKey("service_requests.srn", ondelete="CASCADE"), nullable=False, index=True),
    Column("at", UTCDateTime, nullable=False),
    Column("from_status", String(32), nullable=True),
    Column("to_status", String(32), nullable=False),
    Column("actor", String(100), nullable=False),
    Column("reason", Text, nullable=False, server_default=""),
)

#: Immutable weekly publications: the bulletin (office "") and one confidential copy
#: per examining office. A row is written once; building the week again yields the same
#: bytes (the blob's sha256 is the ETag).
publications = Table(
    "publications",
    metadata,
    Column("kind", String(20), nullable=False),
    Column("week", String(6), nullable=False),
    Column("office", String(2), nullable=False, server_default=""),
    Column("sha256", String(64), ForeignKey("blobs.sha256"), nullable=True),  # NULL: nothing to publish
    Column("size", BigInteger, nullable=False),
    Column("registrations", Integer, nullable=False, server_default="0"),
    Column("decisions", Integer, nullable=False, server_default="0"),
    Column("published_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("kind", "week", "office"),
)

#: The sandbox clock's offset from the system clock (one row; sandbox mode only).
sandbox_clock = Table(
    "sandbox_clock",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("offset_seconds", BigInteger, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

#: The append-only audit log: who did what, when, from where. Triggers refuse UPDATE
#: and DELETE (see migration 0004).
audit_events = Table(
    "audit_events",
    metadata,
    Column("id", Id64, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False, index=True),
    Column("actor", String(100), nullable=False, index=True),
    Column("office", String(2), nullable=True),
    Column("action", String(60), nullable=False, index=True),
    Column("target", String(100), nullable=True),
    Column("outcome", String(20), nullable=False),
    Column("source", String(64), nullable=True),
    Column("detail", Text, nullable=True),
)

#: Committed changes of the rows API processes keep in their read cache, written by
#: triggers on SQLite (migration 0007; PostgreSQL announces them with NOTIFY instead):
#: ``name`` is the cache's name for the table, ``key`` the row's key. Read by
#: :class:`hws.store.sqlite_change_feed.SqliteChangeFeed`; the triggers keep the newest
#: rows only.
cache_changes = Table(
    "cache_changes",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("name", String(32), nullable=False),
    Column("key", String(64), nullable=False),
    sqlite_autoincrement=True,
)

#: The outbox of events offices are told about (issue 13): written in the transaction of
#: the change they describe. ``sequence`` counts each office's events (1, 2, …; gap-free,
#: in commit order: the office's counter row is locked until the commit).
events = Table(
    "events",
    metadata,
    Column("id", Id64, primary_key=True, autoincrement=True),
    Column("event_id", String(40), nullable=False, unique=True),
    Column("office", String(2), nullable=False),
    Column("sequence", BigInteger, nullable=False),
    Column("type", String(80), nullable=False),
    Column("subject", String(100), nullable=False),
    Column("time", UTCDateTime, nullable=False),
    Column("data", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False, index=True),
    UniqueConstraint("office", "sequence", name="uq_events_office_sequence"),
)

#: The feed's acknowledgement cursor per client: the sequence it has read up to.
event_cursors = Table(
    "event_cursors",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column("office", String(2), nullable=False),
    Column("acknowledged", BigInteger, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

#: Offices' webhook endpoints. ``secret`` is the ``whsec_`` signing secret (needed to
#: sign, so kept as is). A lease (epoch ms) lets one delivery worker at a time send to
#: an endpoint, which keeps its deliveries in order.
webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("endpoint_id", String(40), primary_key=True),
    Column("office", String(2), nullable=False, index=True),
    Column("url", Text, nullable=False),
    Column("secret", Text, nullable=False),
    Column("description", String(200), nullable=False, server_default=""),
    Column("enabled", Boolean, nullable=False, server_default="1"),
    Column("disabled_reason", Text, nullable=True),
    Column("failing_since", UTCDateTime, nullable=True),
    Column("last_success_at", UTCDateTime, nullable=True),
    Column("created_by", String(100), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("lease_owner", String(80), nullable=True),
    Column("lease_expires_at", BigInteger, nullable=True),
)

#: One event to one endpoint: pending (due at ``next_attempt_at``), delivered or dead
#: (every try failed; an operator may redeliver it).
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", Id64, primary_key=True, autoincrement=True),
    Column(
        "endpoint_id",
        String(40),
        ForeignKey("webhook_endpoints.endpoint_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("event", Id64, ForeignKey("events.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("sequence", BigInteger, nullable=False),
    Column("status", String(12), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("last_attempt_at", UTCDateTime, nullable=True),
    Column("last_status", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("delivered_at", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_webhook_deliveries_status_next", "status", "next_attempt_at"),
    Index("ix_webhook_deliveries_endpoint_status_sequence", "endpoint_id", "status", "sequence"),
)

#: People who use the operator console (issue 12). Local accounts have a password hash
#: (argon2id) and a TOTP secret; accounts made by single sign-on have ``sso_subject``
#: (issuer and subject) and no password. ``failures`` counts failed sign-ins in a row.
operators = Table(
    "operators",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("role", String(20), nullable=False),
    Column("password_hash", Text, nullable=True),
    Column("totp_secret", String(64), nullable=True),
    Column("totp_required", Boolean, nullable=False, server_default="1"),
    Column("totp_last_step", BigInteger, nullable=True),
    Column("failures", Integer, nullable=False, server_default="0"),
    Column("locked_until", UTCDateTime, nullable=True),
    Column("disabled", Boolean, nullable=False, server_default="0"),
    Column("sso_subject", String(400), nullable=True, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("last_sign_in_at", UTCDateTime, nullable=True),
    Column("last_sign_in_source", String(64), nullable=True),
)

#: Console sessions. The cookie holds a random token; only its SHA-256 is kept here.
#: ``stage`` is ``password`` while the second factor is still owed, ``totp-setup`` while
#: the account must set one up, ``signed-in`` after.
operator_sessions = Table(
    "operator_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("operator", String(64), ForeignKey("operators.name", ondelete="CASCADE"), nullable=False, index=True),
    Column("stage", String(12), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("via", String(8), nullable=False),
    Column("source", String(64), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
    Column("pending_secret", String(64), nullable=True),
)
