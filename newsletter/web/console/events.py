"""Console: correcting and cancelling events safely, and who is coming.

A change that reaches people's calendars is never made by the first click:
"Save event" or "Cancel this event" first shows who will be notified (how
many, and the first names), the notice itself, a "notify attendees" choice
and a field for a message that appears in the notice; only "Confirm" sends.
A correction nobody has received yet is saved at once (it sends nothing).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from newsletter.dispatch import control
from newsletter.events import replies
from newsletter.events.changes import (
    ChangePreview,
    EventChangeError,
    EventFields,
    cancel_event,
    edit_event,
    preview_cancel,
    preview_change,
)
from newsletter.events.queries import event_from_record, get_event, list_events
from newsletter.render.formatting import when_label
from newsletter.sends import SendError, parse_uk_time
from newsletter.web.console.updates import detail_page
from newsletter.web.deps import page, store, verify_csrf

router = APIRouter()
Text = Annotated[str, Form()]


def _check(request: Request, update_id: int, event_id: int) -> str:
    """The event's title; 404 unless the event belongs to the update."""
    with store(request) as db:
        titles = {e.id: e.title for e in list_events(db, update_id)}
    if event_id not in titles:
        raise HTTPException(404, "There is no such event in this update.")
    return titles[event_id]


def _confirm_page(
    request: Request,
    update_id: int,
    event_id: int,
    preview: ChangePreview,
    action: str,
    fields: dict[str, str],
    notify: bool,
    message: str,
) -> Response:
    context = {
        "update_id": update_id,
        "event_id": event_id,
        "title": _check(request, update_id, event_id),
        "preview": preview,
        "others": max(preview.notified - len(preview.names), 0),
        "action": action,
        "fields": fields,
        "notify": notify,
        "message": message,
    }
    return page(request, "console/event_confirm.html", context)


def _done(update_id: int, note: str) -> Response:
    return RedirectResponse(f"/console/updates/{update_id}?message={quote(note)}", status_code=303)


@router.post("/updates/{update_id}/events/{event_id}", dependencies=[Depends(verify_csrf)])
def correct_event(
    request: Request,
    update_id: int,
    event_id: int,
    title: Text = "",
    start: Text = "",
    end: Text = "",
    location: Text = "",
    featured: Annotated[str | None, Form()] = None,
    notify: Text = "yes",
    message: Text = "",
    confirm: Text = "",
) -> Response:
    """Correct an event; if people have it, show who is told and the notice before sending."""
    _check(request, update_id, event_id)
    form = {"title": title, "start": start, "end": end, "location": location}
    if featured is not None:
        form["featured"] = "on"
    telling = notify != "no"
    try:
        fields: EventFields = {
            "title": title.strip() or None,
            "start": parse_uk_time(start, option="start") if start.strip() else None,
            "end": parse_uk_time(end, option="end") if end.strip() else None,
            "location": location.strip() or None,
        }
        with store(request) as db:
            preview = preview_change(db, event_id, notify=telling, message=message, **fields)
        if preview.notified and confirm != "yes":
            return _confirm_page(
                request, update_id, event_id, preview, "edit", form, telling, message
            )
        with store(request) as db:
            change = edit_event(db, event_id, notify=telling, message=message, **fields)
            get_event(db, event_id).featured = featured is not None
    except (SendError, EventChangeError, ValueError) as exc:
        return detail_page(request, update_id, error=str(exc), status_code=400)
    note = "Event saved."
    if change.notice_send_id is not None:
        control.start_if_due(change.notice_send_id)
        note = f"Event saved; {preview.notified} people who have it get an update."
    elif preview.changed and not telling:
        note = "Event saved; nobody was notified, as you chose."
    return _done(update_id, note)


@router.post("/updates/{update_id}/events/{event_id}/cancel", dependencies=[Depends(verify_csrf)])
def cancel(
    request: Request,
    update_id: int,
    event_id: int,
    notify: Text = "yes",
    message: Text = "",
    confirm: Text = "",
) -> Response:
    """Cancel an event, always after a confirmation page (it cannot be undone)."""
    _check(request, update_id, event_id)
    telling = notify != "no"
    try:
        with store(request) as db:
            preview = preview_cancel(db, event_id, notify=telling, message=message)
        if confirm != "yes":
            return _confirm_page(
                request, update_id, event_id, preview, "cancel", {}, telling, message
            )
        with store(request) as db:
            change = cancel_event(db, event_id, notify=telling, message=message)
    except EventChangeError as exc:
        return detail_page(request, update_id, error=str(exc), status_code=400)
    if change.notice_send_id is not None:
        control.start_if_due(change.notice_send_id)
        return _done(update_id, f"Event cancelled; {preview.notified} people are told.")
    return _done(update_id, "Event cancelled; nobody was notified.")


@router.get("/events/{event_id}/attendees", response_class=HTMLResponse)
def attendees(request: Request, event_id: int) -> Response:
    """Who has the event and what they answered, with counts and a CSV download."""
    with store(request) as db:
        record = get_event(db, event_id)
        people = replies.attendees(db, event_id)
        context = {
            "event": record,
            "when": when_label(event_from_record(record)),
            "people": people,
            "counts": replies.counts(people),
        }
    return page(request, "console/attendees.html", context)


@router.get("/events/{event_id}/attendees.csv")
def attendees_csv(request: Request, event_id: int) -> Response:
    """The attendee list as CSV, safe to open in a spreadsheet."""
    with store(request) as db:
        people = replies.attendees(db, event_id)
    return Response(
        replies.attendees_csv(people),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="event-{event_id}-attendees.csv"',
            # Personal data: kept out of the browser's disk cache, as every console page is.
            "Cache-Control": "no-store",
        },
    )
