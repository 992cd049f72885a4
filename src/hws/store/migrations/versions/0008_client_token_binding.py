"""Sender-constrained tokens: each client's token binding — ``bearer`` (WIPO's profile,
the default), ``dpop-allowed`` (a DPoP proof binds the token when one is sent) or
``dpop-required`` (a token is issued and accepted only with a DPoP proof, RFC 9449).

Plain ALTER TABLE, as in 0006 (a batch copy would cascade to ``client_keys``).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("clients", sa.Column("token_binding", sa.String(16), nullable=False, server_default="bearer"))


def downgrade() -> None:
    op.drop_column("clients", "token_binding")
