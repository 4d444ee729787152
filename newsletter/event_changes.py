"""Correcting and cancelling events, and telling exactly those who have them.

Before an event was sent anywhere, edits are silent corrections.  Once it
has recipients (``EventRecipient`` rows, written when a message carrying it
was sent), a change of time or place raises SEQUENCE and queues an
"Updated: …" notice with the same UID to them and nobody else (RFC 5546
§2.1.4); a cancellation sends METHOD:CANCEL with STATUS:CANCELLED.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from newsletter.editions import rerender_unstarted
from newsletter.errors import UserError
from newsletter.models import EventRecipient, EventRecord, Send
from newsletter.sends import create_send
from newsletter.updates import get_event


@dataclass(frozen=True)
class EventChange:
    """What an edit did: which fields changed and the notice send it queued (if any)."""

    event_id: int
    changed: tuple[str, ...]
    notice_send_id: int | None
    recipients: int


# Fields whose change matters to someone who has the event in their calendar.
NOTIFIABLE = ("start", "end", "location", "title", "all_day")


class EventChangeError(UserError, ValueError):
    """An event change that cannot be made (cancelled event, end before start)."""


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


def edit_event(
    session: Session,
    event_id: int,
    *,
    title: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    location: str | None = None,
    url: str | None = None,
    all_day: bool | None = None,
    notify: bool = True,
) -> EventChange:
    """Apply the given fields; queue an update notice if a sent event changed.

    Raises ValueError for an end before the start or a cancelled event, and
    LookupError for an unknown id.  The caller commits, then starts the
    notice send (``newsletter.dispatch.control.start_if_due``).
    """
    event = get_event(session, event_id)
    if event.cancelled:
        raise EventChangeError(f"event {event_id} is cancelled; it cannot be edited")
    wanted = {
        "title": title,
        "start": start,
        "end": end,
        "location": location,
        "url": url,
        "all_day": all_day,
    }
    changed = []
    for name, value in wanted.items():
        if value is not None and getattr(event, name) != value:
            setattr(event, name, value)
            changed.append(name)
    if event.end is not None and event.end < event.start:
        raise EventChangeError(f"event {event_id}: the end {event.end} is before the start")
    if changed:
        session.flush()
        rerender_unstarted(session, event)  # scheduled sends go out with the corrected event
    recipients = recipient_count(session, event_id)
    notice = None
    if notify and recipients and any(name in NOTIFIABLE for name in changed):
        event.sequence += 1
        notice = _notice(session, event, "event_update")
    session.flush()
    return EventChange(event_id, tuple(changed), notice, recipients)


def cancel_event(session: Session, event_id: int) -> EventChange:
    """Cancel the event; queue METHOD:CANCEL to everyone who has it."""
    event = get_event(session, event_id)
    if event.cancelled:
        raise EventChangeError(f"event {event_id} is already cancelled")
    event.cancelled = True
    event.sequence += 1
    session.flush()
    rerender_unstarted(session, event)  # a newsletter not yet sent no longer attaches it
    recipients = recipient_count(session, event_id)
    notice = _notice(session, event, "event_cancel") if recipients else None
    session.flush()
    return EventChange(event_id, ("cancelled",), notice, recipients)


def _notice(session: Session, event: EventRecord, kind: str) -> int:
    send: Send = create_send(
        session, update_id=event.update_id, segments=[], kind=kind, event_id=event.id
    )
    return send.id
