"""Change log for the read cache on SQLite: triggers write ``(name, key)`` to
``cache_changes`` for every change of a row API processes keep in memory (imports,
service requests, clients and their keys), in the transaction that makes it. An API
process notices any commit, by any process, with ``PRAGMA data_version`` and evicts what
the new rows name (:mod:`hws.store.sqlite_change_feed`). The newest rows are kept;
a reader that fell behind the pruning empties its whole cache.

PostgreSQL announces the same changes with NOTIFY (migration 0005); the table is created
there too (one schema for both), and stays empty.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

#: table → (key column, the cache's name for what changed): the same as migration 0005's
WATCHED = {
    "imports": ("import_id", "imports"),
    "service_requests": ("srn", "service_requests"),
    "clients": ("client_id", "clients"),
    "client_keys": ("client_id", "clients"),
}
#: rows kept in ``cache_changes``; a reader further behind than this empties its cache
KEPT = 10_000


def upgrade() -> None:
    op.create_table(
        "cache_changes",
        sa.Column("seq", sa.Integer(), nullable=False, autoincrement=True),
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_cache_changes"),
        sqlite_autoincrement=True,
    )
    if op.get_bind().dialect.name != "sqlite":
        return
    for table, (column, name) in WATCHED.items():
        for operation, row in (("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")):
            op.execute(
                f"CREATE TRIGGER hws_cache_{table}_{operation.lower()} AFTER {operation} ON {table} "
                f"BEGIN INSERT INTO cache_changes (name, key) VALUES ('{name}', {row}.{column}); END"
            )
    op.execute(
        "CREATE TRIGGER hws_cache_changes_prune AFTER INSERT ON cache_changes "
        f"BEGIN DELETE FROM cache_changes WHERE seq <= NEW.seq - {KEPT}; END"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS hws_cache_changes_prune")
        for table in WATCHED:
            for operation in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS hws_cache_{table}_{operation}")
    op.drop_table("cache_changes")
