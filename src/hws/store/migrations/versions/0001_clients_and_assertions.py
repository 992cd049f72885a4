"""Clients, their keys, and the single-use record of client assertions.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

from hws.store.types import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "clients",
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("office", sa.String(2), nullable=False),
        sa.Column("name", sa.String(200), nullable=False, server_default=""),
        sa.Column("examining", sa.Boolean(), nullable=False, server_default="0"),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("default_scopes", sa.Text(), nullable=False),
        sa.Column("networks", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False, server_default="1"),
        sa.Column("not_before", UTCDateTime(), nullable=True),
        sa.Column("not_after", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("client_id", name="pk_clients"),
    )
    op.create_index("ix_clients_office", "clients", ["office"])
    op.create_table(
        "client_keys",
        sa.Column("kid", sa.String(64), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("alg", sa.String(10), nullable=False),
        sa.Column("public_jwk", sa.Text(), nullable=False),
        sa.Column("certificate_pem", sa.Text(), nullable=False),
        sa.Column("subject", sa.String(400), nullable=False, server_default=""),
        sa.Column("not_before", UTCDateTime(), nullable=False),
        sa.Column("not_after", UTCDateTime(), nullable=False),
        sa.Column("added_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.client_id"], name="fk_client_keys_client_id_clients", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("kid", name="pk_client_keys"),
    )
    op.create_index("ix_client_keys_client_id", "client_keys", ["client_id"])
    op.create_table(
        "assertion_uses",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_assertion_uses"),
    )
    op.create_index("ix_assertion_uses_expires_at", "assertion_uses", ["expires_at"])


def downgrade() -> None:
    op.drop_table("assertion_uses")
    op.drop_table("client_keys")
    op.drop_table("clients")
