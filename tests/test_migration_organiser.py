"""Migration 0007_organiser on a store with data, on SQLite and PostgreSQL.

Existing subscribers get a first history row carrying their consent; a
custom segment's short description becomes its display name; deliveries
outlive an erased subscriber (their link is set to NULL, not cascaded).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, create_engine, text

from newsletter.migrate import alembic_config

POSTGRES_ADMIN_URL = os.environ.get(
    "NEWSLETTER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture(params=["sqlite", "postgres"])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An engine on a brand-new, unmigrated database."""
    if request.param == "sqlite":
        from newsletter.db import engine_for  # turns SQLite's foreign keys on

        yield engine_for(f"sqlite:///{tmp_path / 'old.db'}")
        return
    name = f"newsletter_mig_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = create_engine(POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name)
    yield engine
    engine.dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _upgrade(engine: Engine, revision: str) -> None:
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def test_upgrade_keeps_data_and_adds_history(empty_engine: Engine) -> None:
    _upgrade(empty_engine, "0003")
    now = "2026-01-02 03:04:05"
    with empty_engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO subscribers (id, email, email_key, name, organisation, region,"
                " status, attributes, reminders_enabled, created_at, updated_at,"
                " status_changed_at, consent_source, consent_at)"
                " VALUES (1, 'a@x.org', 'a@x.org', 'A', '', '', 'active', '{}', true,"
                " :now, :now, :now, 'web form, double opt-in', :now)"
            ),
            {"now": now},
        )
        conn.execute(
            text(
                "INSERT INTO segments (id, name, rule, description, builtin, created_at)"
                " VALUES (1, 'ne-leaders', 'role:dcs', 'North East leaders', false, :now),"
                " (2, 'long', 'role:dcs', :long, false, :now)"
            ),
            {"now": now, "long": "x" * 80},
        )
        conn.execute(
            text(
                "INSERT INTO sends (id, kind, segments, status, planned, consecutive_failures,"
                " created_at) VALUES (1, 'newsletter', '[]', 'finished', 1, 0, :now)"
            ),
            {"now": now},
        )
        conn.execute(
            text(
                "INSERT INTO deliveries (id, send_id, subscriber_id, segment, status, attempts)"
                " VALUES (1, 1, 1, 'dcs', 'sent', 1)"
            )
        )
    _upgrade(empty_engine, "head")
    with empty_engine.begin() as conn:
        history = conn.execute(
            text("SELECT subscriber_id, status, consent_source FROM subscriber_status_changes")
        ).all()
        assert [tuple(r) for r in history] == [(1, "active", "web form, double opt-in")]
        labels = {str(n): str(v) for n, v in conn.execute(text("SELECT name, label FROM segments"))}
        assert labels == {"ne-leaders": "North East leaders", "long": ""}
        conn.execute(text("DELETE FROM subscribers WHERE id = 1"))
        kept = conn.execute(text("SELECT id, subscriber_id FROM deliveries")).all()
        assert [tuple(r) for r in kept] == [(1, None)]
        assert conn.execute(text("SELECT count(*) FROM subscriber_status_changes")).scalar() == 0
