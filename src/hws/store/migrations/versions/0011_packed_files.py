"""A package's files kept inside the stored package (issue 15, item 3): a blob row may say
where its bytes lie in another blob — ``packed_in`` (the package's digest),
``packed_offset``, ``packed_size`` and ``packed_method`` (0 stored, 8 deflated) — instead
of the blob being a file of its own. Rows written before keep NULL: files of their own.

Plain ALTER TABLE, as in 0008 (nullable columns, nothing to copy).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_COLUMNS = (
    ("packed_in", sa.String(64)),
    ("packed_offset", sa.BigInteger()),
    ("packed_size", sa.BigInteger()),
    ("packed_method", sa.SmallInteger()),
)


def upgrade() -> None:
    for name, kind in _COLUMNS:
        op.add_column("blobs", sa.Column(name, kind, nullable=True))


def downgrade() -> None:
    # A file kept only inside its package has no file of its own: downgrading past this
    # revision would lose it. Refuse while any row is packed (extract them first).
    packed = op.get_bind().execute(sa.text("SELECT count(*) FROM blobs WHERE packed_in IS NOT NULL")).scalar()
    if packed:
        raise RuntimeError(
            f"{packed} stored files live inside their packages; this version cannot read them. "
            "Downgrade refused: restore a backup taken before revision 0011 instead."
        )
    for name, _kind in reversed(_COLUMNS):
        op.drop_column("blobs", name)
