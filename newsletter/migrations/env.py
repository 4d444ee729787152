"""Alembic environment: runs migrations on the connection handed over by
``newsletter.migrate`` (or on the configured database when run by alembic)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

import newsletter.bounces.models  # noqa: F401 (registers the bounce tables on Base)
from newsletter.db import engine_for
from newsletter.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things in place; batch mode rebuilds tables.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        from newsletter.config import get_settings

        url = get_settings().database_url
    with engine_for(url).connect() as conn:
        _run(conn)
