"""API: updates (ingest, read, preview per segment); events are in :mod:`.events`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from newsletter import corrections, updates
from newsletter.segments import display_name
from newsletter.segments import get as get_segment
from newsletter.web.api.schemas import AudiencesIn, UpdateIn, UpdatePatch
from newsletter.web.archive import neutral_html, neutral_text, rendered
from newsletter.web.deps import Principal, require_api_organiser, settings_of, store

router = APIRouter(tags=["updates"])


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
    with store(request) as db:
        record, warnings = updates.ingest(
            db, body.text.encode("utf-8"), body.source_name, body.format
        )
        data = updates.to_content(record).to_json()
    return {**data, "warnings": warnings}


@router.get("/updates/{update_id}")
def get_update(request: Request, update_id: int) -> dict[str, Any]:
    """The update's documented JSON (sections, tags, contacts, events with ids)."""
    with store(request) as db:
        return updates.load_update(db, update_id).to_json()


@router.patch("/updates/{update_id}")
def correct_update(
    request: Request,
    update_id: int,
    body: UpdatePatch,
    organiser: Principal = Depends(require_api_organiser),  # noqa: B008 (FastAPI idiom)
) -> dict[str, Any]:
    """Correct the update's title, region or period; recorded in its history."""
    with store(request) as db:
        corrections.correct_update(
            db, update_id, title=body.title, region=body.region, period=body.period,
            actor=organiser.email,
        )  # fmt: skip
        return updates.load_update(db, update_id).to_json()


@router.put("/updates/{update_id}/sections/{section}/audiences")
def set_section_audiences(
    request: Request,
    update_id: int,
    section: int,
    body: AudiencesIn,
    organiser: Principal = Depends(require_api_organiser),  # noqa: B008
) -> dict[str, Any]:
    """Set a section's audiences (1 = the first section); later editions follow them."""
    with store(request) as db:
        corrections.section_audiences(db, update_id, section, body.audiences, actor=organiser.email)
        return updates.load_update(db, update_id).to_json()


@router.get("/updates/{update_id}/history")
def update_history(request: Request, update_id: int) -> list[dict[str, Any]]:
    """The update's corrections, oldest first."""
    with store(request) as db:
        return [
            {
                "field": c.field,
                "before": c.before,
                "after": c.after,
                "actor": c.actor,
                "at": c.created_at.isoformat(),
            }
            for c in corrections.history(db, update_id)
        ]


@router.get("/updates/{update_id}/preview/{segment}")
def preview(request: Request, update_id: int, segment: str) -> dict[str, Any]:
    """The segment's edition: subject, preheader, HTML and text with neutral links."""
    with store(request) as db:
        record = updates.get_record(db, update_id)
        edition = rendered(record, segment, display_name(get_segment(db, segment)))
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
