"""Life cycle columns of service requests, weekly publications, the sandbox clock.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

from hws.store.types import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("service_requests") as batch:
        batch.add_column(sa.Column("fee_shortfall", sa.Boolean(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("registered_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("recorded_against", sa.String(9), nullable=True))
        batch.create_index("ix_service_requests_registered_at", ["registered_at"])
    op.create_table(
        "publications",
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("week", sa.String(6), nullable=False),
        sa.Column("office", sa.String(2), nullable=False, server_default=""),
        sa.Column("sha256", sa.String(64), sa.ForeignKey("blobs.sha256"), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("registrations", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("decisions", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("published_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "week", "office"),
    )
    op.create_table(
        "sandbox_clock",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("offset_seconds", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("sandbox_clock")
    op.drop_table("publications")
    with op.batch_alter_table("service_requests") as batch:
        batch.drop_index("ix_service_requests_registered_at")
        batch.drop_column("recorded_against")
        batch.drop_column("registered_at")
        batch.drop_column("fee_shortfall")
