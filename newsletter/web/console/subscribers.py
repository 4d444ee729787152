"""Console: subscribers — search, CSV import (with the rejected lines shown), export."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, UploadFile
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from newsletter.models import SUBSCRIBER_STATUSES
from newsletter.subscriber_csv import CsvFormatError
from newsletter.web.deps import page, store, verify_csrf
from newsletter.web.services import (
    PAGE_SIZE,
    export_subscribers,
    import_subscribers,
    report_json,
    search_subscribers,
)

router = APIRouter()


@router.get("/subscribers", response_class=HTMLResponse)
def list_subscribers(request: Request, q: str = "", status: str = "", after: int = 0) -> Response:
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
    """Import the CSV: good rows are stored, every rejected line is listed with its reason."""
    data = file.file.read()
    try:
        with store(request) as db:
            report = import_subscribers(db, data, file.filename or "upload.csv")
    except CsvFormatError as exc:
        return page(request, "console/import.html", {"error": str(exc)}, status_code=400)
    return page(request, "console/import.html", {"report": report_json(report)})


@router.get("/subscribers/export.csv")
def export(request: Request) -> Response:
    """Every subscriber as CSV, in the import format."""
    return StreamingResponse(
        export_subscribers(request),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="subscribers.csv"'},
    )
