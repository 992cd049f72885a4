"""Client contacts: the access request form's business owner and technical contact
(names and e-mail addresses), so ``hws admin clients update`` and ``apply`` keep them.

Plain ALTER TABLE (no batch copy): on SQLite a table copy would drop ``clients`` and,
with foreign keys on, cascade to ``client_keys``.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

COLUMNS = (
    ("business_owner", 200),
    ("business_owner_email", 320),
    ("technical_contact", 200),
    ("technical_contact_email", 320),
)


def upgrade() -> None:
    for name, length in COLUMNS:
        op.add_column("clients", sa.Column(name, sa.String(length), nullable=False, server_default=""))


def downgrade() -> None:
    for name, _ in reversed(COLUMNS):
        op.drop_column("clients", name)
