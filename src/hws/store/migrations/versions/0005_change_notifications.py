"""Change notifications (PostgreSQL): every committed change of a row that API processes
keep in their read cache is announced on the ``hws_changes`` channel.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

#: table → (key column, the cache's name for what changed)
WATCHED = {
    "imports": ("import_id", "imports"),
    "service_requests": ("srn", "service_requests"),
    "clients": ("client_id", "clients"),
    "client_keys": ("client_id", "clients"),
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite deployments keep no cross-process read cache
    op.execute(
        """
        CREATE FUNCTION hws_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            row_data jsonb;
        BEGIN
            IF TG_OP = 'DELETE' THEN row_data := to_jsonb(OLD); ELSE row_data := to_jsonb(NEW); END IF;
            PERFORM pg_notify('hws_changes', TG_ARGV[1] || ':' || coalesce(row_data ->> TG_ARGV[0], ''));
            RETURN NULL;
        END
        $$
        """
    )
    for table, (column, name) in WATCHED.items():
        op.execute(
            f"CREATE TRIGGER hws_notify_{table} AFTER INSERT OR UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION hws_notify_change('{column}', '{name}')"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in WATCHED:
        op.execute(f"DROP TRIGGER IF EXISTS hws_notify_{table} ON {table}")
    op.execute("DROP FUNCTION IF EXISTS hws_notify_change()")
