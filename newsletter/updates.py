"""Stored updates and their events: content objects in, content objects out.

``store_update`` saves an ingested :class:`~newsletter.content.Update` whole
(one transaction, with its events, each given a permanent iCalendar UID);
``ingest`` parses an upload and stores it; ``load_update`` gives it back
with ids filled in.  Events are rows of their own (see
:mod:`newsletter.events`).  An update is public once a newsletter send of it
has started (:func:`is_sent`, :func:`sent_updates`: the web archive).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.content import Update
from newsletter.errors import Conflict, NotFound
from newsletter.events.queries import event_from_record, new_uid
from newsletter.models import EventRecord, Send, UpdateRecord, column_width


class UpdateNotFoundError(NotFound, LookupError):
    """No update with that id."""


class UpdateInUseError(Conflict, ValueError):
    """An update that a send used cannot be deleted."""


def store_update(
    session: Session, update: Update, *, source_name: str = "", source_format: str = "text"
) -> UpdateRecord:
    """Insert ``update`` and its events; returns the record (ids assigned on flush)."""
    content = update.to_json()
    record = UpdateRecord(
        title=update.title,
        region=update.region,
        period=update.period,
        period_end=update.period_end or update.period,
        period_label=update.period_label,
        source_name=source_name,
        source_format=source_format,
        content={k: content[k] for k in ("sections", "tags", "contacts")},
    )
    record.events = [
        EventRecord(
            uid=event.uid or new_uid(),
            title=event.title,
            start=event.start,
            end=event.end,
            all_day=event.all_day,
            timezone=event.timezone,
            location=event.location,
            featured=event.featured,
            source=event.source,
            url=event.url,
            needs_title=event.needs_title,
        )
        for event in update.events
    ]
    session.add(record)
    session.flush()
    return record


def ingest(
    session: Session, data: bytes, source_name: str, fmt: str = "auto"
) -> tuple[UpdateRecord, list[str]]:
    """Parse an uploaded or pasted update and store it; returns the record and the warnings.

    Raises IngestError (nothing stored) for unusable input or an unknown
    format.  Parsing takes up to ~1 s for a hostile 1 MB file
    (``benchmarks/ingest.py``): the web routes that call this are plain
    ``def`` functions, which FastAPI runs in its thread pool, so the event
    loop is never blocked.
    """
    # Imported here: the many commands that read stored updates never parse
    # one, and the CLI imports only what a command needs (docs/performance.md).
    from newsletter.ingest import FORMATS, IngestError, parse_bytes

    if fmt not in FORMATS:
        raise IngestError(source_name, f"format must be one of {', '.join(FORMATS)}")
    result = parse_bytes(data, source_name, fmt)
    too_long = overlong_field(result.update, source_name)
    if too_long is not None:
        raise IngestError(source_name, too_long)
    record = store_update(
        session, result.update, source_name=source_name, source_format=result.format
    )
    return record, list(result.warnings)


def overlong_field(update: Update, source_name: str = "") -> str | None:
    """Why ``update`` (or its file name) does not fit its columns, or None when it does.

    Ingest accepts text of any length, but the store's columns are bounded:
    PostgreSQL refuses a longer value and SQLite would keep it, so it is
    bad input to name, before anything is stored.
    """
    updates_table, events_table = UpdateRecord.__table__, EventRecord.__table__
    fields: list[tuple[str, str | None, Any, str]] = [
        ("file name", source_name, updates_table, "source_name"),
        ("title", update.title, updates_table, "title"),
        ("region", update.region, updates_table, "region"),
        ("period label", update.period_label, updates_table, "period_label"),
    ]
    for n, event in enumerate(update.events, start=1):
        fields += [
            (f"event {n} title", event.title, events_table, "title"),
            (f"event {n} location", event.location, events_table, "location"),
            (f"event {n} link", event.url, events_table, "url"),
            (f"event {n} uid", event.uid, events_table, "uid"),
        ]
    for label, value, table, column in fields:
        width = column_width(table, column)
        if value and width is not None and len(value) > width:
            return f"{label}: at most {width} characters (it has {len(value)})"
    return None


def get_record(session: Session, update_id: int) -> UpdateRecord:
    """The stored update ``update_id``; raises UpdateNotFoundError."""
    record = session.get(UpdateRecord, update_id)
    if record is None:
        raise UpdateNotFoundError(f"no update with id {update_id}")
    return record


def to_content(record: UpdateRecord) -> Update:
    """The content :class:`Update` of a stored update, events included."""
    data: dict[str, Any] = dict(record.content)
    parsed = Update.from_json(
        {
            "id": record.id,
            "title": record.title,
            "region": record.region,
            "period": record.period,
            "period_end": record.period_end or record.period,
            "period_label": record.period_label,
            "sections": data.get("sections", []),
            "tags": data.get("tags", []),
            "contacts": data.get("contacts", []),
            "events": [],
        }
    )
    parsed.events = [event_from_record(e) for e in record.events]
    return parsed


def load_update(session: Session, update_id: int) -> Update:
    """Load a stored update as content; raises UpdateNotFoundError."""
    return to_content(get_record(session, update_id))


def list_records(session: Session, limit: int | None = None) -> list[UpdateRecord]:
    """Every stored update (or the ``limit`` latest), newest first."""
    query = select(UpdateRecord).order_by(UpdateRecord.id.desc())
    return list(session.scalars(query if limit is None else query.limit(limit)))


def is_sent(session: Session, update_id: int) -> bool:
    """Whether a newsletter send of the update has started (it is then in the archive)."""
    query = select(Send.id).where(
        Send.update_id == update_id, Send.started_at.is_not(None), Send.kind == "newsletter"
    )
    return session.scalars(query.limit(1)).first() is not None


def sent_updates(session: Session) -> list[tuple[UpdateRecord, datetime]]:
    """Updates that went out, newest send first, with when they first went out."""
    rows: dict[int, tuple[UpdateRecord, datetime]] = {}
    query = (
        select(UpdateRecord, Send.started_at)
        .join(Send, Send.update_id == UpdateRecord.id)
        .where(Send.started_at.is_not(None), Send.kind == "newsletter")
        .order_by(Send.started_at)
    )
    for record, started in session.execute(query).all():
        if started is not None and record.id not in rows:
            rows[record.id] = (record, started)
    return sorted(rows.values(), key=lambda pair: pair[1], reverse=True)


def delete_update(session: Session, update_id: int) -> None:
    """Delete an update that was never sent; raises UpdateInUseError if a send uses it."""
    record = get_record(session, update_id)
    used = session.scalars(select(Send.id).where(Send.update_id == update_id)).first()
    if used is not None:
        raise UpdateInUseError(
            f"update {update_id} was used by send {used}; it stays in the archive"
        )
    session.delete(record)
