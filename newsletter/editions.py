"""Editions: one update rendered for one segment, rendered once per send and stored.

This module owns the edition as the product stores it: rendering a send's
editions at planning (``render_send_editions``), storing them in
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

from sqlalchemy.orm import Session

from newsletter import segments as segment_store
from newsletter.calendar import publish_part
from newsletter.config import get_settings
from newsletter.content import Event, Update
from newsletter.events.notices import build_notice, was_invited
from newsletter.events.queries import event_from_record, get_event
from newsletter.models import Send, SendEdition
from newsletter.parts import CalendarPart, RenderedEdition
from newsletter.render import render_edition
from newsletter.updates import load_update

NOTICE_AUDIENCE_NAME = "people who have this event in their calendar"


def archive_url(update_id: int | None) -> str | None:
    """The web archive page of an update (the view-in-browser link)."""
    if update_id is None:
        return None
    return f"{get_settings().base_url.rstrip('/')}/archive/{update_id}"


def featured_calendars(update: Update) -> tuple[list[Event], list[CalendarPart]]:
    """The events a newsletter attaches (featured, not cancelled) and their PUBLISH parts."""
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


def _newsletter_editions(session: Session, send: Send) -> None:
    if send.update_id is None:
        raise ValueError(f"send {send.id}: a newsletter needs an update")
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
