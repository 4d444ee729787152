"""API: updates (ingest, read, preview per segment) and events (correct, cancel)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request

from newsletter import updates
from newsletter.dispatch import control
from newsletter.event_changes import cancel_event, edit_event
from newsletter.ingest import IngestError
from newsletter.models import EventRecord
from newsletter.segments import SegmentError
from newsletter.segments import get as get_segment
from newsletter.sends import SendError, parse_uk_time
from newsletter.updates import UpdateNotFoundError, event_from_record
from newsletter.web.api.schemas import EventPatch, UpdateIn
from newsletter.web.archive import neutral_html, neutral_text, rendered
from newsletter.web.deps import settings_of, store
from newsletter.web.services import ingest

router = APIRouter(tags=["updates"])


def _event_json(record: EventRecord) -> dict[str, Any]:
    return {
        **event_from_record(record).to_json(),
        "update_id": record.update_id,
        "uid": record.uid,
        "sequence": record.sequence,
        "cancelled": record.cancelled,
    }


@router.get("/updates")
def list_updates(request: Request) -> list[dict[str, Any]]:
    """Stored updates, newest first (summary)."""
    with store(request) as db:
        return [
            {"id": r.id, "title": r.title, "period": r.period, "events": len(r.events)}
            for r in updates.list_records(db)
        ]


@router.post("/updates", status_code=201)
def create_update(request: Request, body: UpdateIn) -> dict[str, Any]:
    """Ingest and store an update; 422 with the reason when it cannot be parsed."""
    try:
        with store(request) as db:
            record, warnings = ingest(db, body.text.encode("utf-8"), body.source_name, body.format)
            data = updates.to_content(record).to_json()
    except (IngestError, ValueError) as exc:
        raise HTTPException(422, str(exc)) from exc
    return {**data, "warnings": warnings}


@router.get("/updates/{update_id}")
def get_update(request: Request, update_id: int) -> dict[str, Any]:
    """The update's documented JSON (sections, tags, contacts, events with ids)."""
    try:
        with store(request) as db:
            return updates.load_update(db, update_id).to_json()
    except UpdateNotFoundError as exc:
        raise HTTPException(404, str(exc)) from exc


@router.get("/updates/{update_id}/preview/{segment}")
def preview(request: Request, update_id: int, segment: str) -> dict[str, Any]:
    """The segment's edition: subject, preheader, HTML and text with neutral links."""
    with store(request) as db:
        try:
            record = updates.get_record(db, update_id)
            get_segment(db, segment)
        except (UpdateNotFoundError, SegmentError) as exc:
            raise HTTPException(404, str(exc)) from exc
        edition = rendered(record, segment)
    settings = settings_of(request)
    return {
        "update_id": update_id,
        "segment": segment,
        "segment_name": edition.segment_name,
        "subject": edition.subject,
        "preheader": edition.preheader,
        "html": neutral_html(edition, settings),
        "text": neutral_text(edition, settings),
    }


@router.get("/events")
def list_events(request: Request, update_id: int | None = None) -> list[dict[str, Any]]:
    """Events, by start time; only one update's with ``update_id``."""
    from sqlalchemy import select

    with store(request) as db:
        query = select(EventRecord).order_by(EventRecord.start, EventRecord.id)
        if update_id is not None:
            query = query.where(EventRecord.update_id == update_id)
        return [_event_json(r) for r in db.scalars(query)]


@router.patch("/events/{event_id}")
def patch_event(request: Request, event_id: int, body: EventPatch) -> dict[str, Any]:
    """Correct an event; people who have it get an update notice (unless ``notify`` false)."""
    try:
        with store(request) as db:
            change = edit_event(
                db,
                event_id,
                title=body.title,
                start=parse_uk_time(body.start, option="start") if body.start else None,
                end=parse_uk_time(body.end, option="end") if body.end else None,
                location=body.location,
                notify=body.notify,
            )
            record = updates.get_event(db, event_id)
            if body.featured is not None:
                record.featured = body.featured
            data = _event_json(record)
    except UpdateNotFoundError as exc:
        raise HTTPException(404, str(exc)) from exc
    except (SendError, ValueError) as exc:
        raise HTTPException(422, str(exc)) from exc
    if change.notice_send_id is not None:
        control.start_if_due(change.notice_send_id)
    return {**data, "changed": list(change.changed), "notice_send_id": change.notice_send_id}


@router.post("/events/{event_id}/cancel")
def cancel(request: Request, event_id: int) -> dict[str, Any]:
    """Cancel an event; everyone who has it gets METHOD:CANCEL."""
    try:
        with store(request) as db:
            change = cancel_event(db, event_id)
            data = _event_json(updates.get_event(db, event_id))
    except UpdateNotFoundError as exc:
        raise HTTPException(404, str(exc)) from exc
    except ValueError as exc:
        raise HTTPException(409, str(exc)) from exc
    if change.notice_send_id is not None:
        control.start_if_due(change.notice_send_id)
    return {**data, "notice_send_id": change.notice_send_id}
