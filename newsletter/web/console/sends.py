"""Console: sends — schedule, follow live (polling JSON + chart), pause, resume, cancel."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from newsletter import sends, updates
from newsletter.dispatch import control
from newsletter.segments import SegmentError, count, list_all
from newsletter.sends import SendError, parse_uk_time
from newsletter.web.deps import Principal, page, require_organiser, store, verify_csrf
from newsletter.web.security import MAX_ID
from newsletter.web.services import send_progress as progress_of

router = APIRouter()


@router.get("/sends", response_class=HTMLResponse)
def list_sends(request: Request) -> Response:
    """Recent sends with their status and counts."""
    with store(request) as db:
        rows = [sends.to_json(db, s) for s in sends.list_sends(db, limit=100)]
    return page(request, "console/sends.html", {"sends": rows})


def _form_context(request: Request, update_id: int | None) -> dict[str, Any]:
    with store(request) as db:
        segment_rows = [(s.name, s.description, count(db, s.name)) for s in list_all(db)]
        records = updates.list_records(db)
        choices = [(r.id, r.title) for r in records]
    return {"segments": segment_rows, "updates": choices, "update_id": update_id}


@router.get("/sends/new", response_class=HTMLResponse)
def new_send(
    request: Request, update_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None
) -> Response:
    """The scheduling form: update, segments (with their sizes), time, subject."""
    return page(request, "console/send_new.html", _form_context(request, update_id))


@router.post("/sends", dependencies=[Depends(verify_csrf)])
def create_send(
    request: Request,
    organiser: Annotated[Principal, Depends(require_organiser)],
    update_id: Annotated[int, Form()],
    segments: Annotated[list[str] | None, Form()] = None,
    at: Annotated[str, Form()] = "",
    subject: Annotated[str, Form()] = "",
) -> Response:
    """Schedule the send (now when no time is given) and wake the workers if it is due."""
    try:
        with store(request) as db:
            send = sends.create_send(
                db,
                update_id=update_id,
                segments=list(segments or []),
                at=parse_uk_time(at) if at.strip() else None,
                subject=subject.strip() or None,
                created_by=organiser.email,
            )
            send_id = send.id
    except (SendError, SegmentError, LookupError) as exc:
        context = _form_context(request, update_id)
        context["error"] = str(exc)
        return page(request, "console/send_new.html", context, status_code=400)
    control.start_if_due(send_id)
    return RedirectResponse(f"/console/sends/{send_id}", status_code=303)


@router.get("/sends/{send_id}", response_class=HTMLResponse)
def show_send(request: Request, send_id: int, error: str | None = None) -> Response:
    """The send's live progress page (the numbers and chart update by polling)."""
    data = progress_of(request, send_id)
    title = None
    if data["update_id"] is not None:
        with store(request) as db:
            title = updates.get_record(db, data["update_id"]).title
    return page(request, "console/send.html", {"send": data, "update_title": title, "error": error})


@router.get("/sends/{send_id}/progress")
def send_progress(request: Request, send_id: int) -> JSONResponse:
    """Polled by the progress page: status, counts and timeline as JSON."""
    return JSONResponse(progress_of(request, send_id), headers={"Cache-Control": "no-store"})


@router.post("/sends/{send_id}/{action}", dependencies=[Depends(verify_csrf)])
def control_send(request: Request, send_id: int, action: str) -> Response:
    """Pause, resume or cancel; an impossible change is shown on the page, not raised."""
    if action not in control.ACTIONS:
        raise HTTPException(404, "Unknown action.")
    try:
        control.apply(send_id, action)
    except SendError as exc:
        return show_send(request, send_id, error=str(exc))
    return RedirectResponse(f"/console/sends/{send_id}", status_code=303)
