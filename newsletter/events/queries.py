"""Reading stored events: by id, as the :class:`Event` type, who has them, which are public.

Events are rows of their own (``newsletter.models.EventRecord``) so that
organisers can correct them and so that their UID and SEQUENCE survive every
render.  Only events that went out are public: in their update's newsletter
or in a notice of their own.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, exists, func, or_, select
from sqlalchemy.orm import Session

from newsletter.config import get_settings
from newsletter.errors import NotFound
from newsletter.events.event import Event
from newsletter.models import (
    EventRecipient,
    EventRecord,
    EventReply,
    Segment,
    Send,
    Subscriber,
    utcnow,
)


class EventNotFoundError(NotFound, LookupError):
    """No event with that id."""


def new_uid() -> str:
    """A globally unique, permanent iCalendar UID at the sending domain (RFC 5545 §3.8.4.7)."""
    return f"{uuid.uuid4()}@{get_settings().sending_domain}"


def get_event(session: Session, event_id: int) -> EventRecord:
    """The stored event ``event_id``; raises :class:`EventNotFoundError`."""
    record = session.get(EventRecord, event_id)
    if record is None:
        raise EventNotFoundError(f"no event with id {event_id}")
    return record


def find_by_uid(session: Session, uid: str) -> EventRecord | None:
    """The stored event whose iCalendar UID is ``uid`` (compared exactly), or None."""
    return session.scalars(select(EventRecord).where(EventRecord.uid == uid)).first()


def event_from_record(record: EventRecord) -> Event:
    """The :class:`Event` of a stored event row."""
    return Event(
        id=record.id,
        uid=record.uid,
        title=record.title,
        start=record.start,
        end=record.end,
        all_day=record.all_day,
        timezone=record.timezone,
        location=record.location,
        featured=record.featured,
        source=record.source,
        url=record.url,
        sequence=record.sequence,
        cancelled=record.cancelled,
        needs_title=record.needs_title,
    )


def list_events(session: Session, update_id: int | None = None) -> list[EventRecord]:
    """Stored events by start time, optionally of one update only."""
    query = select(EventRecord).order_by(EventRecord.start, EventRecord.id)
    if update_id is not None:
        query = query.where(EventRecord.update_id == update_id)
    return list(session.scalars(query))


def recipient_count(session: Session, event_id: int) -> int:
    """How many subscribers have received this event."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(EventRecipient)
            .where(EventRecipient.event_id == event_id)
        )
        or 0
    )


def event_is_public(session: Session, record: EventRecord) -> bool:
    """Whether the event went out, in its update's newsletter or in a notice of its own."""
    query = select(Send.id).where(
        Send.started_at.is_not(None),
        or_(
            (Send.update_id == record.update_id) & (Send.kind == "newsletter"),
            Send.event_id == record.id,
        ),
    )
    return session.scalars(query.limit(1)).first() is not None


def feed_events(
    session: Session, segment: str | None = None, now: datetime | None = None
) -> list[Event]:
    """Upcoming events (from a day ago on) of a calendar feed, by start time.

    With ``segment``: the events of updates sent (or invitations sent) to it.
    Without: every public event, i.e. those sent to at least one public
    segment (the "Everyone subscribed" feed).  Cancelled events stay, so that
    subscribed calendars show them as cancelled rather than silently losing them.
    """
    since = (now or utcnow()) - timedelta(days=1)
    public = set(session.scalars(select(Segment.name).where(Segment.public.is_(True))))
    update_ids: set[int] = set()
    event_ids: set[int] = set()
    sends = session.scalars(
        select(Send).where(
            Send.started_at.is_not(None), Send.kind.in_(("newsletter", "invitation"))
        )
    )
    for send in sends:
        # Segments are a JSON list; filtering in Python keeps SQLite and PostgreSQL alike.
        targets = set(send.segments)
        if not (segment in targets if segment is not None else targets & public):
            continue
        if send.kind == "newsletter" and send.update_id is not None:
            update_ids.add(send.update_id)
        elif send.event_id is not None:
            event_ids.add(send.event_id)
    if not update_ids and not event_ids:
        return []
    records = session.scalars(
        select(EventRecord)
        .where(
            or_(EventRecord.update_id.in_(update_ids), EventRecord.id.in_(event_ids)),
            EventRecord.start >= since,
        )
        .order_by(EventRecord.start, EventRecord.id)
    )
    return [event_from_record(r) for r in records]


def notice_audience(kind: str, event_id: int | None, now: datetime) -> ColumnElement[bool]:
    """WHERE over Subscriber: who an event notice of ``kind`` goes to.

    Only active subscribers who received the event.  A cancellation goes to all
    of them; an update skips those who declined (they asked not to be bothered
    with it); a reminder also skips those who turned reminders off and those
    who first got the event less than ``reminder_gap_hours`` ago, so nobody
    gets a reminder right on the heels of the invitation or newsletter.
    """
    had_event = exists().where(
        EventRecipient.event_id == event_id,
        EventRecipient.subscriber_id == Subscriber.id,
    )
    condition = and_(Subscriber.status == "active", had_event)
    if kind == "event_cancel":
        return condition
    declined = exists().where(
        EventReply.event_id == event_id,
        EventReply.subscriber_id == Subscriber.id,
        EventReply.status == "declined",
    )
    condition = and_(condition, ~declined)
    if kind == "reminder":
        gap = timedelta(hours=get_settings().reminder_gap_hours)
        recent = exists().where(
            EventRecipient.event_id == event_id,
            EventRecipient.subscriber_id == Subscriber.id,
            EventRecipient.created_at > now - gap,
        )
        condition = and_(condition, Subscriber.reminders_enabled.is_(True), ~recent)
    return condition
