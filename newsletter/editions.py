"""Editions: one update rendered for one segment, rendered once per send and stored.

This module owns the edition as the product stores it: rendering a send's
editions when it is scheduled (``render_send_editions``, called by
``newsletter.sends``; the planner renders any send that has none yet, see
:func:`ensure_rendered`), rendering again those of sends not yet started when
an event they show changes (:func:`rerender_unstarted`), storing them in
:class:`~newsletter.models.SendEdition` rows and reading them back
(:func:`stored`).  The rendered type, :class:`~newsletter.parts.RenderedEdition`,
lives in ``newsletter.parts`` with the other parts that message assembly
reads (it sits below this module); the order of sections within an edition
is ``newsletter.render.sections``.  See docs/architecture.md, "Editions".

A newsletter is rendered per segment with its featured events attached as
METHOD:PUBLISH.  Event notices (invitation, update, cancellation, reminder)
say what :mod:`newsletter.events.notices` builds.
"""

from __future__ import annotations

import base64

from sqlalchemy import delete, exists, or_, select
from sqlalchemy.orm import Session

from newsletter import segments as segment_store
from newsletter.config import get_settings
from newsletter.content import Event, Update
from newsletter.events.queries import event_from_record, get_event
from newsletter.models import EventRecord, Send, SendEdition, SendStatus
from newsletter.parts import CalendarPart, RenderedEdition
from newsletter.updates import load_update

# The renderer (Jinja2, premailer, lxml) and the calendar writer are imported
# inside the functions that render: processes that only read stored editions
# (workers building templates) or only schedule (the CLI's `send`) do not pay
# for them at start-up (docs/performance.md, "Time to first message").

NOTICE_AUDIENCE_NAME = "people who have this event in their calendar"


def archive_url(update_id: int | None) -> str | None:
    """The web archive page of an update (the view-in-browser link)."""
    if update_id is None:
        return None
    return f"{get_settings().base_url.rstrip('/')}/archive/{update_id}"


def featured_calendars(update: Update) -> tuple[list[Event], list[CalendarPart]]:
    """The events a newsletter attaches (featured, not cancelled) and their PUBLISH parts."""
    from newsletter.calendar import publish_part

    featured = [e for e in update.events if e.featured and not e.cancelled]
    url = archive_url(update.id)
    return featured, [publish_part(e, update_url=url) for e in featured]


def render_send_editions(session: Session, send: Send) -> None:
    """Render and store one :class:`SendEdition` per edition label of the send."""
    if send.kind == "newsletter":
        _newsletter_editions(session, send)
    else:
        _notice_edition(session, send)
    session.flush()


def has_editions(session: Session, send_id: int) -> bool:
    """Whether the send's editions are stored."""
    return bool(session.scalar(select(exists().where(SendEdition.send_id == send_id))))


def ensure_rendered(session: Session, send: Send) -> bool:
    """Render the send's editions unless they are stored already; True if rendered now."""
    if has_editions(session, send.id):
        return False
    render_send_editions(session, send)
    return True


def rerender_unstarted(session: Session, event: EventRecord) -> list[int]:
    """Render again the stored editions of sends not yet started that show ``event``.

    A send's editions are rendered when it is scheduled; if the event it
    announces (a notice or invitation) or features (a newsletter of the
    event's update) is then corrected or cancelled, what goes out must be
    the corrected event.  Sends already started keep what they began with,
    as their recipients partly have it.  Returns the ids of the sends
    rendered again.
    """
    waiting = select(Send).where(
        Send.started_at.is_(None),
        Send.status.in_((SendStatus.SCHEDULED, SendStatus.PAUSED)),
        or_(
            Send.event_id == event.id,
            (Send.kind == "newsletter") & (Send.update_id == event.update_id),
        ),
        exists().where(SendEdition.send_id == Send.id),
    )
    again = list(session.scalars(waiting))
    for send in again:
        session.execute(delete(SendEdition).where(SendEdition.send_id == send.id))
        render_send_editions(session, send)
    return [send.id for send in again]


def _newsletter_editions(session: Session, send: Send) -> None:
    if send.update_id is None:
        raise ValueError(f"send {send.id}: a newsletter needs an update")
    from newsletter.render import render_edition

    update = load_update(session, send.update_id)
    featured, parts = featured_calendars(update)
    event_ids = [e.id for e in featured if e.id is not None]
    for segment in send.segments:
        name = segment_store.display_name(segment_store.get(session, segment))
        edition = render_edition(update, segment, segment_name=name, subject=send.subject)
        _store(session, send, edition, parts, event_ids)


def _notice_edition(session: Session, send: Send) -> None:
    if send.event_id is None:
        raise ValueError(f"send {send.id}: an event notice needs an event")
    from newsletter.events.notices import build_notice, was_invited
    from newsletter.render import render_edition

    record = get_event(session, send.event_id)
    event = event_from_record(record)
    url = archive_url(record.update_id)
    invited = send.kind == "event_update" and was_invited(session, record.id)
    notice = build_notice(send.kind, event, url, invited=invited, message=send.message)
    update, subject, part = notice.update, notice.subject, notice.part
    labels = send.segments if send.kind == "invitation" else ["event-recipients"]
    for label in labels:
        name = (
            segment_store.display_name(segment_store.get(session, label))
            if send.kind == "invitation"
            else NOTICE_AUDIENCE_NAME
        )
        edition = render_edition(update, label, segment_name=name, subject=send.subject or subject)
        # Only an invitation puts the event into new calendars; notices go to
        # people who have it already.
        event_ids = [event.id] if send.kind == "invitation" and event.id is not None else []
        _store(session, send, edition, [part] if part else [], event_ids)


def _store(
    session: Session,
    send: Send,
    edition: RenderedEdition,
    parts: list[CalendarPart],
    event_ids: list[int],
) -> None:
    """Keep one rendered edition of the send, with its calendar parts, for the workers."""
    session.add(
        SendEdition(
            send_id=send.id,
            segment=edition.segment,
            segment_name=edition.segment_name,
            subject=edition.subject,
            preheader=edition.preheader,
            html=edition.html,
            text=edition.text,
            calendar=calendar_json(parts),
            event_ids=event_ids,
        )
    )


def stored(
    session: Session, send_id: int, segment: str
) -> tuple[RenderedEdition, list[CalendarPart]]:
    """The stored edition of (send, segment) and its calendar parts.

    Raises LookupError when the send has no edition for ``segment``.
    """
    row = session.get(SendEdition, {"send_id": send_id, "segment": segment})
    if row is None:
        raise LookupError(f"send {send_id} has no edition for segment {segment!r}")
    return edition_of(row), calendar_parts_of(row)


def edition_of(row: SendEdition) -> RenderedEdition:
    """The rendered edition stored in ``row``."""
    return RenderedEdition(
        update_id=None,
        segment=row.segment,
        segment_name=row.segment_name,
        subject=row.subject,
        preheader=row.preheader,
        html=row.html,
        text=row.text,
    )


def calendar_parts_of(row: SendEdition) -> list[CalendarPart]:
    """The calendar parts stored in ``row`` (ics kept base64 in JSON)."""
    return [
        CalendarPart(
            method=str(item["method"]),
            filename=str(item["filename"]),
            ics=base64.b64decode(item["ics"]),
        )
        for item in row.calendar
    ]


def calendar_json(parts: list[CalendarPart]) -> list[dict[str, str]]:
    """Calendar parts as JSON-able dicts for :class:`SendEdition`."""
    return [
        {
            "method": p.method,
            "filename": p.filename,
            "ics": base64.b64encode(p.ics).decode("ascii"),
        }
        for p in parts
    ]
