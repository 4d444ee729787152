"""Correcting and cancelling events, and telling exactly those who have them.

Before an event was sent anywhere, edits are silent corrections.  Once it
has recipients (``EventRecipient`` rows, written when a message carrying it
was sent), a change of time or place raises SEQUENCE and queues an
"Updated: …" notice with the same UID (RFC 5546 §2.1.4) to those who have it,
except those who declined; a cancellation sends METHOD:CANCEL with
STATUS:CANCELLED to all of them.

Because a change reaches people's calendars, callers show
:func:`preview_change` first (who is notified, and the notice itself) and
apply it only after the organiser confirms; ``notify=False`` corrects without
telling anyone, and ``message`` adds the organiser's words to the notice.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypedDict
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from newsletter.config import get_settings
from newsletter.editions import rerender_unstarted
from newsletter.errors import Conflict, UserError
from newsletter.events.event import Event, placeholder_title
from newsletter.events.notices import build_notice, was_invited
from newsletter.events.queries import (
    event_from_record,
    get_event,
    notice_audience,
    recipient_count,
)
from newsletter.models import EventRecord, Send, Subscriber, column_width, utcnow
from newsletter.sends import create_send
from newsletter.subscribers import SubscriberError, check_text

# Fields whose change matters to someone who has the event in their calendar.
NOTIFIABLE = ("start", "end", "location", "title", "all_day")
# How many first names a preview shows before "and N others".
PREVIEW_NAMES = 5
MAX_MESSAGE = 2000


class EventFields(TypedDict, total=False):
    """The correctable fields, as callers collect them from a form or options (None: keep)."""

    title: str | None
    start: datetime | None
    end: datetime | None
    location: str | None
    url: str | None
    all_day: bool | None


class EventChangeError(UserError, ValueError):
    """A change that cannot be made (cancelled event, end before start, bad message)."""


class EventCancelledError(EventChangeError, Conflict):
    """The event is cancelled: it cannot be edited or cancelled again."""


@dataclass(frozen=True)
class EventChange:
    """What an edit did: which fields changed and the notice send it queued (if any)."""

    event_id: int
    changed: tuple[str, ...]
    notice_send_id: int | None
    recipients: int


@dataclass(frozen=True)
class ChangePreview:
    """What a change would do, shown before the organiser confirms it.

    ``notified`` is how many people the notice would reach (0 when nothing
    notifiable changed or ``notify`` is off), ``names`` the first names of the
    first few of them; ``subject`` and ``text`` are the notice's.
    """

    event_id: int
    kind: str
    changed: tuple[str, ...]
    notified: int
    names: tuple[str, ...]
    subject: str
    text: str

    def to_json(self) -> dict[str, Any]:
        """The preview as the API and ``--json`` show it."""
        return {
            "event_id": self.event_id,
            "kind": self.kind,
            "changed": list(self.changed),
            "notified": self.notified,
            "names": list(self.names),
            "subject": self.subject,
            "text": self.text,
        }


def _wanted(
    title: str | None,
    start: datetime | None,
    end: datetime | None,
    location: str | None,
    url: str | None,
    all_day: bool | None,
) -> dict[str, Any]:
    return {
        "title": _one_line("title", title, allow_empty=False),
        "start": start,
        "end": end,
        "location": _one_line("location", location, allow_empty=True),
        "url": url,
        "all_day": all_day,
    }


def _one_line(field: str, value: str | None, *, allow_empty: bool) -> str | None:
    """``value`` stripped, one line that fits its column; raises EventChangeError otherwise.

    Titles and venues go into notice subjects and calendar lines: the same
    rule as every one-line field (``subscribers.check_text``: no line breaks
    or other control characters), at most the column's width, and a title
    is never empty.
    """
    if value is None:
        return None
    width = column_width(EventRecord.__table__, field)
    try:
        value = check_text(field, value, max_length=width or len(value))
    except SubscriberError as exc:
        raise EventChangeError(str(exc)) from exc
    if not value and not allow_empty:
        raise EventChangeError(f"{field}: must not be empty")
    return value


def _check_message(message: str | None) -> str | None:
    if message is None or not message.strip():
        return None
    if len(message) > MAX_MESSAGE:
        raise EventChangeError(f"message: at most {MAX_MESSAGE} characters, got {len(message)}")
    return message.strip()


def _changes(record: EventRecord, wanted: dict[str, Any]) -> dict[str, Any]:
    changes = {k: v for k, v in wanted.items() if v is not None and getattr(record, k) != v}
    end = changes.get("end", record.end)
    start = changes.get("start", record.start)
    if record.needs_title and "title" not in changes and "start" in changes:
        # The made-up title names the day: rebuild it so no surface shows the old date.
        day = start.astimezone(ZoneInfo(record.timezone)).date()
        changes["title"] = placeholder_title(record.update.region, day)
    if end is not None and end < start:
        raise EventChangeError(f"event {record.id}: the end {end} is before the start {start}")
    return changes


def _audience(session: Session, kind: str, event_id: int) -> tuple[int, tuple[str, ...]]:
    condition = notice_audience(kind, event_id, utcnow())
    count = int(session.scalar(select(func.count(Subscriber.id)).where(condition)) or 0)
    names = session.scalars(
        select(Subscriber.name).where(condition).order_by(Subscriber.id).limit(PREVIEW_NAMES)
    )
    firsts = tuple(n.split()[0] if n.strip() else "(no name)" for n in names)
    return count, firsts


def _preview(
    session: Session,
    record: EventRecord,
    kind: str,
    event: Event,
    changed: tuple[str, ...],
    notifies: bool,
    message: str | None,
) -> ChangePreview:
    url = f"{get_settings().base_url.rstrip('/')}/archive/{record.update_id}"
    invited = kind == "event_update" and was_invited(session, record.id)
    notice = build_notice(kind, event, url, invited=invited, message=message)
    paragraphs = [getattr(b, "text", "") for s in notice.update.sections for b in s.blocks]
    count, names = _audience(session, kind, record.id) if notifies else (0, ())
    return ChangePreview(
        record.id, kind, changed, count, names, notice.subject, "\n\n".join(paragraphs)
    )


def preview_change(
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
    message: str | None = None,
) -> ChangePreview:
    """What :func:`edit_event` with the same arguments would do; changes nothing.

    Raises EventChangeError as :func:`edit_event` does, EventNotFoundError for an unknown id.
    """
    record = get_event(session, event_id)
    if record.cancelled:
        raise EventCancelledError(f"event {event_id} is cancelled; it cannot be edited")
    changes = _changes(record, _wanted(title, start, end, location, url, all_day))
    event = replace(event_from_record(record), **changes, sequence=record.sequence + 1)
    notifies = notify and any(name in NOTIFIABLE for name in changes)
    return _preview(
        session, record, "event_update", event, tuple(changes), notifies, _check_message(message)
    )


def preview_cancel(
    session: Session, event_id: int, *, notify: bool = True, message: str | None = None
) -> ChangePreview:
    """What :func:`cancel_event` would do; changes nothing."""
    record = get_event(session, event_id)
    if record.cancelled:
        raise EventCancelledError(f"event {event_id} is already cancelled")
    event = replace(event_from_record(record), cancelled=True, sequence=record.sequence + 1)
    return _preview(
        session, record, "event_cancel", event, ("cancelled",), notify, _check_message(message)
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
    message: str | None = None,
) -> EventChange:
    """Apply the given fields; queue an update notice if a sent event changed.

    ``message`` appears in the notice.  Raises EventChangeError for an end
    before the start, a cancelled event or an over-long message, and
    EventNotFoundError for an unknown id.  The caller commits, then starts the
    notice send (``newsletter.dispatch.control.start_if_due``).
    """
    record = get_event(session, event_id)
    if record.cancelled:
        raise EventCancelledError(f"event {event_id} is cancelled; it cannot be edited")
    text = _check_message(message)
    changes = _changes(record, _wanted(title, start, end, location, url, all_day))
    for name, value in changes.items():
        setattr(record, name, value)
    if title is not None:
        record.needs_title = False  # an organiser has named it
    if changes:
        session.flush()
        rerender_unstarted(session, record)  # scheduled sends go out with the corrected event
    recipients = recipient_count(session, event_id)
    notice = None
    if notify and recipients and any(name in NOTIFIABLE for name in changes):
        record.sequence += 1
        notice = _notice(session, record, "event_update", text)
    session.flush()
    return EventChange(event_id, tuple(changes), notice, recipients)


def cancel_event(
    session: Session, event_id: int, *, notify: bool = True, message: str | None = None
) -> EventChange:
    """Cancel the event; queue METHOD:CANCEL to everyone who has it (unless not ``notify``).

    Raises EventCancelledError (an EventChangeError) when it is already cancelled.
    """
    record = get_event(session, event_id)
    if record.cancelled:
        raise EventCancelledError(f"event {event_id} is already cancelled")
    text = _check_message(message)
    record.cancelled = True
    record.sequence += 1
    session.flush()
    rerender_unstarted(session, record)  # a newsletter not yet sent no longer attaches it
    recipients = recipient_count(session, event_id)
    notice = _notice(session, record, "event_cancel", text) if notify and recipients else None
    session.flush()
    return EventChange(event_id, ("cancelled",), notice, recipients)


def _notice(session: Session, event: EventRecord, kind: str, message: str | None) -> int:
    send: Send = create_send(
        session,
        update_id=event.update_id,
        segments=[],
        kind=kind,
        event_id=event.id,
        message=message,  # before its editions are rendered, which show it
    )
    return send.id
