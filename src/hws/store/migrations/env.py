"""Alembic environment: runs on the connection handed over by :mod:`hws.store.migration`."""

from __future__ import annotations

from alembic import context

from hws.store.tables import metadata

config = context.config
connection = config.attributes.get("connection")

if connection is None:  # pragma: no cover - the alembic CLI without our wrapper
    from hws.config import Settings
    from hws.store.database import create_db_engine

    engine = create_db_engine(Settings().database_url or "")
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
