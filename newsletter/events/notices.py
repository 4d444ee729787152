"""What an event notice says: invitation, update, cancellation or reminder.

A notice is rendered like a newsletter, from a short synthetic update about
the one event, with the calendar part its kind calls for: an invitation
(METHOD:REQUEST, the recipient added as ATTENDEE per message), an update
("Updated: …", same UID, raised SEQUENCE), a cancellation (METHOD:CANCEL), or
a reminder (no calendar: the event is already in the recipient's calendar).
Everything is built from the event's structured fields at rendering time.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from newsletter.calendar import cancel_part, publish_part, request_part
from newsletter.content import Paragraph, Section, Update
from newsletter.events.event import Event
from newsletter.models import Send
from newsletter.parts import CalendarPart
from newsletter.render.formatting import when_label


@dataclass(frozen=True)
class Notice:
    """A notice ready to render: its synthetic update, default subject and calendar part."""

    update: Update
    subject: str
    part: CalendarPart | None


def build_notice(
    kind: str, event: Event, url: str | None, *, invited: bool, message: str | None = None
) -> Notice:
    """The notice of ``kind`` (a send kind other than ``newsletter``) about ``event``.

    ``invited`` says whether the event went out as an invitation (an update is
    then a REQUEST, else a PUBLISH).  ``message`` is the organiser's own words,
    shown as its own paragraph after the first.
    """
    when = when_label(event)
    where = f" at {event.location}" if event.location else ""
    part: CalendarPart | None
    if kind == "invitation":
        intro = f"You are invited to {event.title}, {when}{where}."
        subject, part = f"Invitation: {event.title}", request_part(event, update_url=url)
    elif kind == "event_update":
        intro = f"{event.title} has changed. It now takes place {when}{where}."
        subject = f"Updated: {event.title}"
        part = (
            request_part(event, update_url=url) if invited else publish_part(event, update_url=url)
        )
    elif kind == "event_cancel":
        intro = f"{event.title}, planned for {when}{where}, has been cancelled."
        subject, part = f"Cancelled: {event.title}", cancel_part(event, update_url=url)
    else:
        intro = f"A reminder: {event.title} takes place {when}{where}."
        subject, part = f"Reminder: {event.title}", None
    paragraphs = [Paragraph(intro)]
    if message and message.strip():
        paragraphs.append(Paragraph(message.strip()))
    shown = replace(event, featured=True)
    update = Update(
        id=None,
        title=subject,
        region=None,
        period=None,
        sections=[Section(heading=None, blocks=list(paragraphs))],
        events=[shown] if kind != "event_cancel" else [],
    )
    return Notice(update, subject, part)


def was_invited(session: Session, event_id: int) -> bool:
    """Whether the event went out as an invitation (then changes go as REQUEST too)."""
    invited = exists().where(Send.event_id == event_id, Send.kind == "invitation")
    return bool(session.scalar(select(invited)))
