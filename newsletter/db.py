"""Database engine and sessions (SQLAlchemy 2).

One engine per URL per process.  SQLite gets the pragmas that make it safe for
a store shared by a CLI, a web app and in-process workers: foreign keys on,
WAL journal (readers don't block the writer) and a busy timeout instead of
immediate "database is locked" errors.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Integer,
    SQLColumnExpression,
    Table,
    any_,
    bindparam,
    create_engine,
    event,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from newsletter.config import get_settings


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def normalise_url(url: str) -> str:
    """Prefer psycopg 3 for PostgreSQL URLs given without a driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


_engines: dict[str, Engine] = {}
_session_factories: dict[Engine, sessionmaker[Session]] = {}


def engine_for(url: str) -> Engine:
    """Return the process's engine for ``url``, creating it on first use."""
    url = normalise_url(url)
    engine = _engines.get(url)
    if engine is None:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"timeout": 30})
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)
        _engines[url] = engine
    return engine


def get_engine() -> Engine:
    """Return the engine for the configured ``NEWSLETTER_DATABASE_URL``."""
    return engine_for(get_settings().database_url)


def reset_engines() -> None:
    """Dispose every cached engine (tests and the demo switch databases)."""
    for engine in _engines.values():
        engine.dispose()
    _engines.clear()
    _session_factories.clear()


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """Yield a session that commits on success and rolls back on any error.

    Everything done inside one ``with`` block is stored whole or not at all.
    """
    bind = engine or get_engine()
    factory = _session_factories.get(bind)
    if factory is None:
        # One factory per engine: a sessionmaker makes a Session subclass and
        # copies the event listeners onto it, about half a millisecond of CPU,
        # which every delivery batch paid several times (docs/performance.md).
        factory = _session_factories[bind] = sessionmaker(bind=bind, expire_on_commit=False)
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def insert_ignore(
    session: Session | Connection, model: type[DeclarativeBase], rows: list[dict[str, Any]]
) -> None:
    """INSERT rows, silently skipping those that clash with a unique key.

    Both SQLite and PostgreSQL spell this ``ON CONFLICT DO NOTHING``; the
    dialect's own ``insert`` construct is needed to say it.
    """
    if not rows:
        return
    bind = session.get_bind() if isinstance(session, Session) else session
    dialect = bind.dialect.name
    table = cast(Table, model.__table__)
    if dialect == "postgresql":
        session.execute(postgresql.insert(table).on_conflict_do_nothing(), rows)
    else:
        session.execute(sqlite.insert(table).on_conflict_do_nothing(), rows)


def id_in(
    session: Session | Connection, column: SQLColumnExpression[int], ids: Sequence[int]
) -> ColumnElement[bool]:
    """``column IN ids``, spelt so that the SQL text does not depend on ``len(ids)``.

    An IN list renders one placeholder per id, so each batch size is new SQL
    text that psycopg parses afresh (about 3 ms for 250 ids, twice a batch).
    On PostgreSQL this is ``column = ANY(:ids)`` with one array parameter, a
    statement parsed once per process; SQLite has no arrays and keeps IN.
    """
    bind = session.get_bind() if isinstance(session, Session) else session
    if bind.dialect.name == "postgresql":
        return column == any_(bindparam("ids", list(ids), type_=postgresql.ARRAY(Integer)))
    return column.in_(list(ids))
