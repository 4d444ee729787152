"""Console: updates — upload or paste, inspect, preview per segment, test send.

Correcting and cancelling an update's events is in :mod:`newsletter.web.console.events`.
"""

from __future__ import annotations

import logging
from typing import Annotated
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from newsletter import corrections, updates
from newsletter.corrections import CorrectionError
from newsletter.events import replies
from newsletter.events.queries import event_from_record
from newsletter.ingest import FORMATS, IngestError
from newsletter.models import UpdateRecord
from newsletter.render.formatting import when_label
from newsletter.segments import display_name, list_all
from newsletter.single_message import send_test_copy
from newsletter.transports import TransportError
from newsletter.web.archive import neutral_html, neutral_text, rendered
from newsletter.web.deps import Principal, page, require_organiser, settings_of, store, verify_csrf
from newsletter.web.security import EMAIL_CSP

log = logging.getLogger(__name__)
router = APIRouter()
# Phone and desktop widths of the preview frames: a small phone and a wide mail client.
PREVIEW_WIDTHS = {"phone": 375, "desktop": 800}


def _record(request: Request, update_id: int) -> UpdateRecord:
    with store(request) as db:
        record = db.get(UpdateRecord, update_id)
        if record is None:
            raise HTTPException(404, f"There is no update {update_id}.")
        _ = record.events  # loaded before the session closes
        return record


@router.get("/updates", response_class=HTMLResponse)
def list_updates(request: Request) -> Response:
    """Stored updates, newest first, with the upload/paste form."""
    with store(request) as db:
        records = updates.list_records(db)
        context = {"updates": records, "formats": FORMATS}
        return page(request, "console/updates.html", context)


@router.post("/updates", dependencies=[Depends(verify_csrf)])
def ingest_update(
    request: Request,
    file: UploadFile | None = None,
    text: Annotated[str, Form()] = "",
    fmt: Annotated[str, Form()] = "auto",
) -> Response:
    """Ingest an uploaded file (or pasted text); show the stored update and any warnings."""
    if file is not None and file.filename:
        data, name = file.file.read(), file.filename
    else:
        data, name = text.encode("utf-8"), "pasted.txt"
    try:
        with store(request) as db:
            record, warnings = updates.ingest(db, data, name, fmt)
            update_id = record.id
    except (IngestError, ValueError) as exc:
        with store(request) as db:
            context = {"updates": updates.list_records(db), "formats": FORMATS}
            context["error"] = str(exc)
            context["text"] = text
            return page(request, "console/updates.html", context, status_code=400)
    # Rendered directly (not redirected) so the warnings are shown once.
    return _detail(request, update_id, warnings=warnings, status_code=201)


def _reply_counts(request: Request, event_ids: list[int]) -> dict[int, dict[str, int]]:
    with store(request) as db:
        return {i: replies.counts(replies.attendees(db, i)) for i in event_ids}


def detail_page(
    request: Request,
    update_id: int,
    *,
    message: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    """The update page with a note or an error (for the event routes)."""
    return _detail(request, update_id, message=message, error=error, status_code=status_code)


def _detail(
    request: Request,
    update_id: int,
    *,
    warnings: list[str] | None = None,
    message: str | None = None,
    error: str | None = None,
    status_code: int = 200,
    segment: str | None = None,
) -> Response:
    record = _record(request, update_id)
    with store(request) as db:
        segments = [s.name for s in list_all(db)]
        changes = corrections.history(db, update_id)
    events = [(r, event_from_record(r)) for r in record.events]
    context = {
        "update": record,
        "content": updates.to_content(record),
        "events": [(r, when_label(e)) for r, e in events],
        "replies": _reply_counts(request, [r.id for r in record.events]),
        "segments": segments,
        "warnings": warnings or [],
        "message": message,
        "error": error,
        "tz": ZoneInfo(settings_of(request).timezone),
        "history": changes,
        # The edition shown under the sections: the one an audience change
        # just touched, so the organiser sees its effect at once.
        "preview_segment": segment if segment in segments else None,
    }
    return page(request, "console/update.html", context, status_code=status_code)


@router.get("/updates/{update_id}", response_class=HTMLResponse)
def show_update(
    request: Request, update_id: int, message: str | None = None, segment: str | None = None
) -> Response:
    """One update: its sections, its events (editable), previews and sending."""
    return _detail(request, update_id, message=message, segment=segment)


@router.post(
    "/updates/{update_id}/sections/{section}/audiences", dependencies=[Depends(verify_csrf)]
)
def correct_audiences(
    request: Request,
    update_id: int,
    section: int,
    organiser: Annotated[Principal, Depends(require_organiser)],
    audiences: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """Correct a section's audiences; the page shows the changed edition's preview."""
    _record(request, update_id)
    try:
        with store(request) as db:
            change = corrections.section_audiences(
                db, update_id, section, audiences or [], actor=organiser.email
            )
    except CorrectionError as exc:
        return _detail(request, update_id, error=str(exc), status_code=400)
    if change is None:
        note, shown = "Nothing changed.", ""
    else:
        before, after = set(change.before.split(", ")), change.after.split(", ")
        touched = [a for a in after if a not in before] or sorted(before - set(after))
        note = f"Section {section} is now for {change.after}."
        shown = f"&segment={quote(touched[0])}" if touched else ""
    return RedirectResponse(
        f"/console/updates/{update_id}?message={quote(note)}{shown}#preview", status_code=303
    )


@router.post("/updates/{update_id}/correct", dependencies=[Depends(verify_csrf)])
def correct_update(
    request: Request,
    update_id: int,
    organiser: Annotated[Principal, Depends(require_organiser)],
    title: Annotated[str, Form()] = "",
    region: Annotated[str, Form()] = "",
    period: Annotated[str, Form()] = "",
) -> Response:
    """Correct the update's title, region and period (an empty region or period clears it)."""
    _record(request, update_id)
    try:
        with store(request) as db:
            changes = corrections.correct_update(
                db,
                update_id,
                title=title,
                region=region.strip() or "none",
                period=period.strip() or "none",
                actor=organiser.email,
            )
    except CorrectionError as exc:
        return _detail(request, update_id, error=str(exc), status_code=400)
    note = "; ".join(f"{c.field}: {c.after or '—'}" for c in changes) or "Nothing changed."
    return RedirectResponse(f"/console/updates/{update_id}?message={quote(note)}", status_code=303)


@router.get("/updates/{update_id}/preview", response_class=HTMLResponse)
def preview(request: Request, update_id: int, segment: str = "dcs") -> Response:
    """The segment's edition at phone and desktop widths side by side, and its text part."""
    record = _record(request, update_id)
    with store(request) as db:
        labels = {s.name: display_name(s) for s in list_all(db)}
    if segment not in labels:
        raise HTTPException(404, f"There is no segment {segment!r}.")
    segments = list(labels)
    edition = rendered(record, segment, labels[segment])
    context = {
        "update": record,
        "segment": segment,
        "segments": segments,
        "subject": edition.subject,
        "preheader": edition.preheader,
        "text": neutral_text(edition, settings_of(request)),
        "widths": PREVIEW_WIDTHS,
        "size_kb": round(len(edition.html.encode("utf-8")) / 1024, 1),
    }
    return page(request, "console/preview.html", context)


@router.get("/updates/{update_id}/preview/{segment}.html", response_class=HTMLResponse)
def preview_frame(request: Request, update_id: int, segment: str) -> Response:
    """The rendered email itself, for the preview frames (email CSP: nothing runs)."""
    record = _record(request, update_id)
    with store(request) as db:
        labels = {s.name: display_name(s) for s in list_all(db)}
    if segment not in labels:
        raise HTTPException(404, f"There is no segment {segment!r}.")
    html = neutral_html(rendered(record, segment, labels[segment]), settings_of(request))
    return HTMLResponse(html, headers={"Content-Security-Policy": EMAIL_CSP})


@router.post("/updates/{update_id}/test-send", dependencies=[Depends(verify_csrf)])
def test_send(
    request: Request,
    update_id: int,
    organiser: Annotated[Principal, Depends(require_organiser)],
    segment: Annotated[str, Form()] = "dcs",
) -> Response:
    """Send one "[Test]" copy of the segment's edition to the signed-in organiser."""
    _record(request, update_id)
    try:
        with store(request) as db:
            send_test_copy(db, update_id, segment, organiser.email)
    except TransportError as exc:
        log.warning("test copy of update %s failed: %s", update_id, exc)
        return _detail(request, update_id, error=f"The test copy was refused: {exc}")
    note = f"A test copy of the {segment} edition was sent to {organiser.email}."
    return RedirectResponse(f"/console/updates/{update_id}?message={quote(note)}", status_code=303)
