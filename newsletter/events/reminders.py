"""Which event reminders are due, created once per (event, offset).

Each event holds the offsets (minutes before its start) at which reminders go
out; the send that carries one is created here, and the unique constraint on
(event, kind, offset) makes a second one impossible however many schedulers
run.  Enqueuing the new sends is the caller's (``newsletter.dispatch``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError

from newsletter.db import session_scope
from newsletter.models import EventRecipient, EventRecord, utcnow
from newsletter.sends import create_send


def due_reminder_offset(event: EventRecord, now: datetime) -> int | None:
    """The reminder offset (minutes) due now for ``event``, or None.

    Of the offsets whose moment has passed, the smallest is the one due (a
    7-day reminder is not sent when the 1-day one is already due); none is
    due once the event has started or if it is cancelled.
    """
    if event.cancelled or now >= event.start:
        return None
    passed = [
        int(m) for m in event.reminder_offsets if event.start - timedelta(minutes=int(m)) <= now
    ]
    return min(passed) if passed else None


def create_due_reminders(now: datetime | None = None) -> list[int]:
    """Create the reminder sends due at ``now`` (default: the current time); returns their ids."""
    now = now or utcnow()
    created: list[int] = []
    with session_scope() as session:
        has_recipients = exists().where(EventRecipient.event_id == EventRecord.id)
        events = list(
            session.scalars(
                select(EventRecord).where(
                    EventRecord.start > now, EventRecord.cancelled.is_(False), has_recipients
                )
            )
        )
        candidates = [(e.id, due_reminder_offset(e, now), e.update_id) for e in events]
    for event_id, offset, update_id in candidates:
        if offset is None:
            continue
        try:
            with session_scope() as session:
                send = create_send(
                    session,
                    update_id=update_id,
                    segments=[],
                    kind="reminder",
                    event_id=event_id,
                    reminder_offset=offset,
                    created_by="reminders",
                )
                created.append(send.id)
        except IntegrityError:
            continue  # this (event, offset) reminder exists already: never twice
    return created
