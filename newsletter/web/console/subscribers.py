"""Console: subscribers — search, CSV import (with the rejected lines shown), export."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from newsletter.dispatch.queue import get_queue
from newsletter.errors import NotFound
from newsletter.imports import create_job, decode_upload, estimated_rows, get_job, job_json
from newsletter.models import SUBSCRIBER_STATUSES
from newsletter.subscriber_csv import CsvFormatError, import_csv
from newsletter.web.deps import page, settings_of, store, verify_csrf
from newsletter.web.security import MAX_ID
from newsletter.web.services import (
    PAGE_SIZE,
    export_subscribers,
    report_json,
    search_subscribers,
)

router = APIRouter()


@router.get("/subscribers", response_class=HTMLResponse)
def list_subscribers(
    request: Request,
    q: Annotated[str, Query(max_length=200)] = "",
    status: str = "",
    after: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> Response:
    """Search by address, name or organisation; pages of 50 by id (keyset)."""
    if status not in SUBSCRIBER_STATUSES:
        status = ""
    with store(request) as db:
        rows = search_subscribers(db, q, status, after, PAGE_SIZE + 1)
        more = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE]
        context = {
            "rows": rows,
            "q": q,
            "status": status,
            "statuses": SUBSCRIBER_STATUSES,
            "next_after": rows[-1].id if more and rows else None,
        }
        return page(request, "console/subscribers.html", context)


@router.get("/subscribers/import", response_class=HTMLResponse)
def import_form(request: Request) -> Response:
    """The CSV upload form."""
    return page(request, "console/import.html", {})


@router.post("/subscribers/import", dependencies=[Depends(verify_csrf)])
def import_file(request: Request, file: UploadFile) -> Response:
    """Import the CSV: good rows are stored, every rejected line is listed with its reason.

    A file over ``MAX_UPLOAD_BYTES`` is refused; one with more than
    ``IMPORT_INLINE_ROWS`` rows becomes an import job with a progress page.
    """
    settings = settings_of(request)
    source = (file.filename or "upload.csv")[:200]
    data = file.file.read(settings.max_upload_bytes + 1)
    if len(data) > settings.max_upload_bytes:
        error = f"{source} is larger than {settings.max_upload_bytes // 1_000_000} MB"
        return page(request, "console/import.html", {"error": error}, status_code=413)
    try:
        text = decode_upload(data, source)
        if estimated_rows(text) > settings.import_inline_rows:
            organiser = getattr(request.state, "organiser", None)
            with store(request) as db:
                job = create_job(
                    db, text, source, created_by=organiser.email if organiser else None
                )
                job_id = job.id
            get_queue().enqueue("run_import", job_id)
            return RedirectResponse(f"/console/imports/{job_id}", status_code=303)
        with store(request) as db:
            report = import_csv(db, text, source=source)
    except CsvFormatError as exc:
        return page(request, "console/import.html", {"error": str(exc)}, status_code=400)
    return page(request, "console/import.html", {"report": report_json(report)})


@router.get("/imports/{job_id}", response_class=HTMLResponse)
def import_progress(request: Request, job_id: Annotated[int, Path(ge=1, le=MAX_ID)]) -> Response:
    """An import job's progress (the page refreshes itself until the job ends), then its report."""
    with store(request) as db:
        try:
            job = job_json(get_job(db, job_id))
        except NotFound as exc:
            raise HTTPException(404, str(exc)) from exc
    return page(request, "console/import_job.html", {"job": job})


@router.get("/subscribers/export.csv")
def export(request: Request) -> Response:
    """Every subscriber as CSV, in the import format."""
    return StreamingResponse(
        export_subscribers(request),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="subscribers.csv"'},
    )
