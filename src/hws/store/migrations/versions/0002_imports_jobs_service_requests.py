"""Blobs, imports, idempotency keys, the job queue, counters and service requests.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

from hws.store.types import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

Id64 = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "blobs",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "imports",
        sa.Column("import_id", sa.String(40), primary_key=True),
        sa.Column("client_id", sa.String(64), sa.ForeignKey("clients.client_id"), nullable=False),
        sa.Column("office", sa.String(2), nullable=False),
        sa.Column("blob_sha256", sa.String(64), sa.ForeignKey("blobs.sha256"), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("processed_at", UTCDateTime(), nullable=True),
        sa.Column("transaction", sa.String(60), nullable=True),
        sa.Column("office_reference", sa.String(200), nullable=True),
        sa.Column("srn", sa.String(9), nullable=True),
        sa.Column("problems", sa.Text(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_imports_client_id", "imports", ["client_id"])
    op.create_index("ix_imports_status", "imports", ["status"])
    op.create_table(
        "idempotency_keys",
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("import_id", sa.String(40), sa.ForeignKey("imports.import_id"), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("client_id", "key"),
    )
    op.create_index("ix_idempotency_keys_expires_at", "idempotency_keys", ["expires_at"])
    op.create_table(
        "jobs",
        sa.Column("id", Id64, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("ref", sa.String(64), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("run_after", sa.BigInteger(), nullable=False),
        sa.Column("lease_owner", sa.String(80), nullable=True),
        sa.Column("lease_expires_at", sa.BigInteger(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_jobs_status_run_after", "jobs", ["status", "run_after"])
    op.create_index("ix_jobs_kind_ref", "jobs", ["kind", "ref"])
    op.create_table(
        "counters",
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("value", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "service_requests",
        sa.Column("srn", sa.String(9), primary_key=True),
        sa.Column("import_id", sa.String(40), sa.ForeignKey("imports.import_id"), nullable=False, unique=True),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("office", sa.String(2), nullable=False),
        sa.Column("transaction", sa.String(60), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("office_reference", sa.String(200), nullable=True),
        sa.Column("target_irn", sa.String(20), nullable=True),
        sa.Column("irn", sa.String(20), nullable=True, unique=True),
        sa.Column("expected_publication", sa.Date(), nullable=True),
        sa.Column("regularization_deadline", sa.Date(), nullable=True),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_service_requests_office", "service_requests", ["office"])
    op.create_index("ix_service_requests_status", "service_requests", ["status"])
    op.create_table(
        "sr_designations",
        sa.Column("srn", sa.String(9), sa.ForeignKey("service_requests.srn", ondelete="CASCADE"), nullable=False),
        sa.Column("office", sa.String(2), nullable=False),
        sa.PrimaryKeyConstraint("srn", "office"),
    )
    op.create_index("ix_sr_designations_office", "sr_designations", ["office"])
    op.create_table(
        "sr_files",
        sa.Column("srn", sa.String(9), sa.ForeignKey("service_requests.srn", ondelete="CASCADE"), nullable=False),
        sa.Column("path", sa.String(500), nullable=False),
        sa.Column("sha256", sa.String(64), sa.ForeignKey("blobs.sha256"), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("media_type", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(60), nullable=True),
        sa.PrimaryKeyConstraint("srn", "path"),
    )
    op.create_table(
        "sr_events",
        sa.Column("id", Id64, primary_key=True, autoincrement=True),
        sa.Column("srn", sa.String(9), sa.ForeignKey("service_requests.srn", ondelete="CASCADE"), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("from_status", sa.String(32), nullable=True),
        sa.Column("to_status", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False, server_default=""),
    )
    op.create_index("ix_sr_events_srn", "sr_events", ["srn"])


def downgrade() -> None:
    for table in ("sr_events", "sr_files", "sr_designations", "service_requests", "counters", "jobs",
                  "idempotency_keys", "imports", "blobs"):  # fmt: skip
        op.drop_table(table)
