"""The database schema (SQLAlchemy Core). Changes go through Alembic migrations."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    MetaData,
    String,
    Table,
    Text,
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
    Column("examining", Boolean, nullable=False, server_default="0"),
    Column("scopes", Text, nullable=False),
    Column("default_scopes", Text, nullable=False),
    Column("networks", Text, nullable=False),
    Column("active", Boolean, nullable=False, server_default="1"),
    Column("not_before", UTCDateTime, nullable=True),
    Column("not_after", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
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
