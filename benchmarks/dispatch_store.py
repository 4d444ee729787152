"""The dispatch benchmark's store: a scratch database with N subscribers and one update.

With ``NEWSLETTER_DATABASE_URL`` pointing at PostgreSQL, each run creates a
scratch database ``newsletter_bench_<random>`` on that server (and drops it
afterwards), so the configured database is never touched; otherwise a SQLite
file in a temporary folder.  Subscribers are spread over the three built-in
role segments (some in two, as in the demo) and are all active, so a send to
``dcs``, ``lead-member`` and ``workforce-lead`` plans exactly N deliveries.
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, create_engine, make_url, select, text

from newsletter.calendar import publish_part
from newsletter.config import Settings, reset_settings
from newsletter.content import Update
from newsletter.db import engine_for, normalise_url, reset_engines, session_scope
from newsletter.demo import ROLE_MIX as DEMO_ROLE_MIX
from newsletter.ingest import parse_file
from newsletter.message import MessageTemplate, Recipient
from newsletter.migrate import upgrade_to_head
from newsletter.models import Subscriber
from newsletter.parts import CalendarPart
from newsletter.paths import SAMPLES_DIR
from newsletter.render import render_edition
from newsletter.roles import normalise_role, slugify
from newsletter.segments import ensure_builtins
from newsletter.subscriber_bulk import bulk_import
from newsletter.subscribers import SubscriberInput
from newsletter.updates import load_update, store_update

SAMPLE = "north-east-2017-04.txt"  # has a featured event, so each message carries an .ics
SEGMENTS = ("dcs", "lead-member", "workforce-lead")
CHUNK = 50_000  # subscribers per transaction while filling the store
SQL_FILL_ABOVE = 200_000  # larger PostgreSQL stores are filled by one INSERT … SELECT
AUTHORITIES = (
    "Darlington", "Durham", "Gateshead", "Hartlepool", "Middlesbrough", "Newcastle",
    "North Tyneside", "Northumberland", "Redcar and Cleveland", "South Tyneside",
    "Stockton-on-Tees", "Sunderland",
)  # fmt: skip
# Everyone is in at least one targeted segment; two in five are in two of them
# (the demo's mix).
ROLE_MIX = DEMO_ROLE_MIX


def ensure_secret_key() -> None:
    """Give this process (and the workers it starts) a throwaway signing key if none is set.

    Links in every message are signed, and workers refuse to start without a
    strong key; a benchmark's scratch store needs no lasting one.
    """
    os.environ.setdefault("NEWSLETTER_SECRET_KEY", secrets.token_urlsafe(48))
    reset_settings()


@dataclass(frozen=True)
class Store:
    """A filled scratch store."""

    url: str
    kind: str  # "PostgreSQL" or "SQLite"
    update_id: int
    subscribers: int


@contextmanager
def scratch_store(folder: Path, label: str, configured: str) -> Iterator[tuple[str, str]]:
    """Yield (url, kind) of a fresh empty database beside ``configured`` (the user's URL).

    PostgreSQL: a scratch database on the same server, dropped afterwards.
    Anything else: a SQLite file in ``folder`` (a temporary folder).
    """
    if not configured.startswith(("postgresql", "postgres:")):
        yield f"sqlite:///{folder / f'{label}.db'}", "SQLite"
        return
    base = make_url(normalise_url(configured))
    name = f"newsletter_bench_{label}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = base.set(database=name).render_as_string(hide_password=False)
        try:
            yield url, "PostgreSQL"
        finally:
            reset_engines()
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def subscriber_inputs(start: int, stop: int) -> list[SubscriberInput]:
    """Subscribers number ``start`` to ``stop - 1``: roles cycle through the demo's mix."""
    people = []
    for i in range(start, stop):
        authority = AUTHORITIES[i % len(AUTHORITIES)]
        people.append(
            SubscriberInput.build(
                f"reader{i}@{slugify(authority)}.gov.uk",
                name=f"Reader {i}",
                organisation=authority,
                region="North East",
                roles=ROLE_MIX[i % len(ROLE_MIX)],
                status="active",
            )
        )
    return people


def fill_store(url: str, kind: str, n: int) -> Store:
    """Migrate ``url``, add the built-in segments, the sample update and ``n`` subscribers."""
    os.environ["NEWSLETTER_DATABASE_URL"] = url
    reset_settings()
    engine = engine_for(url)
    upgrade_to_head(engine)
    with session_scope(engine) as session:
        ensure_builtins(session)
        record = store_update(session, parse_file(SAMPLES_DIR / SAMPLE).update, source_name=SAMPLE)
        update_id = record.id
    if kind == "PostgreSQL" and n > SQL_FILL_ABOVE:
        _fill_in_sql(engine, n)
    else:
        for start in range(0, n, CHUNK):
            with session_scope(engine) as session:
                rows = subscriber_inputs(start, min(start + CHUNK, n))
                bulk_import(session, rows, default_status="active", consent_source="benchmark")
    if kind == "PostgreSQL":
        _analyze(engine, "VACUUM ANALYZE")  # as autovacuum would after a big import
    return Store(url=url, kind=kind, update_id=update_id, subscribers=n)


def _fill_in_sql(engine: Engine, n: int) -> None:
    """The same subscribers as :func:`subscriber_inputs`, generated by PostgreSQL.

    For the largest lists only: validating a million generated rows in Python
    would take longer than the send being measured.  The first and last rows
    are checked against :func:`subscriber_inputs`.
    """
    authorities = [(a, slugify(a)) for a in AUTHORITIES]
    mix = [sorted({normalise_role(r) for r in roles}) for roles in ROLE_MIX]
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO subscribers (email, email_key, name, organisation, region, status, "
                "attributes, reminders_enabled, created_at, updated_at, status_changed_at, "
                "confirmed_at, consent_source, consent_at) "
                "SELECT 'reader' || i || '@' || slug || '.gov.uk', "
                "'reader' || i || '@' || slug || '.gov.uk', 'Reader ' || i, authority, "
                "'North East', 'active', CAST('{}' AS json), true, "
                "now(), now(), now(), now(), 'benchmark', now() "
                "FROM (SELECT i, (CAST(:slugs AS text[]))[i % CAST(:k AS int) + 1] AS slug, "
                "(CAST(:names AS text[]))[i % CAST(:k AS int) + 1] AS authority "
                "FROM generate_series(0, CAST(:n AS int) - 1) AS i) AS g ORDER BY i"
            ),
            {
                "slugs": [slug for _, slug in authorities],
                "names": [name for name, _ in authorities],
                "k": len(authorities),
                "n": n,
            },
        )
        pairs = [(index, role) for index, roles in enumerate(mix) for role in roles]
        conn.execute(
            text(
                "INSERT INTO subscriber_roles (subscriber_id, role) "
                "SELECT s.id, m.role FROM subscribers s "
                "JOIN unnest(CAST(:mix AS int[]), CAST(:roles AS text[])) AS m(mix, role) "
                "ON m.mix = CAST(split_part(split_part(s.email_key, '@', 1), 'reader', 2) "
                "AS int) % :m"
            ),
            {"mix": [i for i, _ in pairs], "roles": [r for _, r in pairs], "m": len(mix)},
        )
    with session_scope(engine) as session:
        for i in (0, n - 1):
            want = subscriber_inputs(i, i + 1)[0]
            got = session.execute(
                select(Subscriber).where(Subscriber.email_key == want.email_key)
            ).scalar_one()
            if (got.name, got.organisation, got.role_names) != (
                want.name,
                want.organisation,
                sorted(want.roles),
            ):
                raise RuntimeError(f"the SQL fill differs from subscriber_inputs at row {i}")


def _analyze(engine: Engine, statement: str) -> None:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(statement))


def stored_update(url: str, update_id: int) -> Update:
    """The update as the workers will load it."""
    with session_scope(engine_for(url)) as session:
        return load_update(session, update_id)


def calendar_parts(update: Update) -> list[CalendarPart]:
    """The PUBLISH parts the engine attaches to a newsletter (its featured events)."""
    return [publish_part(e) for e in update.events if e.featured and not e.cancelled]


def sample_messages(url: str, update_id: int, settings: Settings) -> list[bytes]:
    """One engine-built message per segment (a real recipient), for the ceiling's bytes."""
    update = stored_update(url, update_id)
    parts = calendar_parts(update)
    messages = []
    for index, segment in enumerate(SEGMENTS, start=1):
        template = MessageTemplate.build(render_edition(update, segment, settings=settings), parts)
        recipient = Recipient.for_subscriber(
            f"reader{index}@example.org", f"Reader {index}", index, index, send_id=1
        )
        messages.append(template.personalise(recipient))
    return messages


def first_subscribers(url: str, count: int) -> list[tuple[int, str, str]]:
    """(id, email, name) of the first ``count`` subscribers, for the naive sender."""
    with session_scope(engine_for(url)) as session:
        rows = session.execute(
            select(Subscriber.id, Subscriber.email, Subscriber.name)
            .order_by(Subscriber.id)
            .limit(count)
        ).all()
    return [(int(i), str(e), str(name)) for i, e, name in rows]
