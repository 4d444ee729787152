"""API: events (list, correct, cancel, preview a change, attendees and their answers).

Changes apply at once, as a script asks (the CLI's ``--yes``); add
``?dry_run=true`` to see who would be notified and the notice without
changing anything, as the console shows before its confirmation.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from newsletter.dispatch import control
from newsletter.events import queries, replies
from newsletter.events.changes import (
    EventFields,
    cancel_event,
    edit_event,
    preview_cancel,
    preview_change,
)
from newsletter.events.queries import event_from_record, get_event
from newsletter.models import EventRecord
from newsletter.sends import parse_uk_time
from newsletter.web.api.schemas import EventCancel, EventPatch
from newsletter.web.deps import store
from newsletter.web.security import MAX_ID

router = APIRouter(tags=["events"])


def _event_json(record: EventRecord) -> dict[str, Any]:
    return {
        **event_from_record(record).to_json(),
        "update_id": record.update_id,
        "uid": record.uid,
        "sequence": record.sequence,
        "cancelled": record.cancelled,
    }


@router.get("/events")
def list_events(
    request: Request, update_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None
) -> list[dict[str, Any]]:
    """Events, by start time; only one update's with ``update_id``."""
    with store(request) as db:
        return [_event_json(r) for r in queries.list_events(db, update_id)]


@router.get("/events/{event_id}")
def get_one(request: Request, event_id: int) -> dict[str, Any]:
    """One event, with its answer counts."""
    with store(request) as db:
        data = _event_json(get_event(db, event_id))
        data["replies"] = replies.counts(replies.attendees(db, event_id))
    return data


@router.patch("/events/{event_id}")
def patch_event(
    request: Request, event_id: int, body: EventPatch, dry_run: bool = False
) -> dict[str, Any]:
    """Correct an event; people who have it get an update notice (unless ``notify`` false).

    With ``dry_run`` nothing changes: the answer is the preview (who is
    notified, first names, the notice's subject and text).  409 for a
    cancelled event.
    """
    fields: EventFields = {
        "title": body.title,
        "start": parse_uk_time(body.start, option="start") if body.start else None,
        "end": parse_uk_time(body.end, option="end") if body.end else None,
        "location": body.location,
    }
    with store(request) as db:
        if dry_run:
            preview = preview_change(
                db, event_id, notify=body.notify, message=body.message, **fields
            )
            return {"dry_run": True, **preview.to_json()}
        change = edit_event(db, event_id, notify=body.notify, message=body.message, **fields)
        record = get_event(db, event_id)
        if body.featured is not None:
            record.featured = body.featured
        data = _event_json(record)
    if change.notice_send_id is not None:
        control.start_if_due(change.notice_send_id)
    return {**data, "changed": list(change.changed), "notice_send_id": change.notice_send_id}


@router.post("/events/{event_id}/cancel")
def cancel(
    request: Request, event_id: int, body: EventCancel | None = None, dry_run: bool = False
) -> dict[str, Any]:
    """Cancel an event; everyone who has it gets METHOD:CANCEL (unless ``notify`` false).

    409 for an event already cancelled.
    """
    options = body or EventCancel()
    with store(request) as db:
        if dry_run:
            preview = preview_cancel(db, event_id, notify=options.notify, message=options.message)
            return {"dry_run": True, **preview.to_json()}
        change = cancel_event(db, event_id, notify=options.notify, message=options.message)
        data = _event_json(get_event(db, event_id))
    if change.notice_send_id is not None:
        control.start_if_due(change.notice_send_id)
    return {**data, "notice_send_id": change.notice_send_id}


@router.get("/events/{event_id}/attendees")
def attendees(request: Request, event_id: int) -> dict[str, Any]:
    """Everyone who has the event, with their answer and its time, and the counts."""
    with store(request) as db:
        people = replies.attendees(db, event_id)
    return {
        "event_id": event_id,
        "counts": replies.counts(people),
        "attendees": [p.to_json() for p in people],
    }


@router.get("/events/{event_id}/attendees.csv")
def attendees_csv(request: Request, event_id: int) -> Response:
    """The attendee list as CSV, safe to open in a spreadsheet."""
    with store(request) as db:
        people = replies.attendees(db, event_id)
    return Response(
        replies.attendees_csv(people),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="event-{event_id}-attendees.csv"'},
    )
