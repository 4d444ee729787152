"""Console: subscribers — search, one person's page (add, edit, unsubscribe,
resubscribe on fresh consent, erase), CSV import (with the rejected lines shown), export."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from newsletter import subscriber_record, subscribers
from newsletter.dispatch.queue import get_queue
from newsletter.errors import NotFound, UserError
from newsletter.imports import (
    create_job,
    decode_upload,
    estimated_rows,
    get_job,
    job_json,
    report_json,
)
from newsletter.models import SUBSCRIBER_STATUSES
from newsletter.roles import BUILTIN_ROLES
from newsletter.subscriber_csv import CsvFormatError, export_chunks, import_csv
from newsletter.subscribers import SubscriberInput
from newsletter.web.deps import (
    Principal,
    page,
    require_organiser,
    settings_of,
    store,
    streamed,
    verify_csrf,
)
from newsletter.web.security import MAX_ID

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
        rows, next_after = subscribers.search(db, q, status, after)
        context = {
            "rows": rows,
            "q": q,
            "status": status,
            "statuses": SUBSCRIBER_STATUSES,
            "next_after": next_after,
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
    return page(request, "console/import.html", {"report": report_json(report, data)})


@router.get("/imports/{job_id}", response_class=HTMLResponse)
def import_progress(request: Request, job_id: Annotated[int, Path(ge=1, le=MAX_ID)]) -> Response:
    """An import job's progress (the page refreshes itself until the job ends), then its report."""
    with store(request) as db:
        job = job_json(get_job(db, job_id))
    return page(request, "console/import_job.html", {"job": job})


@router.get("/subscribers/export.csv")
def export(request: Request) -> Response:
    """Every subscriber as CSV, in the import format."""
    return StreamingResponse(
        streamed(request, export_chunks),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="subscribers.csv"',
            # Personal data: kept out of the browser's disk cache, as every console page is.
            "Cache-Control": "no-store",
        },
    )


def _roles(text: str) -> list[str]:
    """Roles typed as a comma- or semicolon-separated list."""
    return [r.strip() for r in text.replace(";", ",").split(",") if r.strip()]


def _form_input(
    email: str, name: str, organisation: str, region: str, roles: list[str] | None, other: str
) -> SubscriberInput:
    return SubscriberInput.build(
        email,
        name=name,
        organisation=organisation,
        region=region,
        roles=[*(roles or []), *_roles(other)],
    )


def _new_context(values: dict[str, Any] | None = None, error: str | None = None) -> dict[str, Any]:
    return {"roles": BUILTIN_ROLES, "values": values or {}, "error": error}


@router.get("/subscribers/new", response_class=HTMLResponse)
def new_subscriber(request: Request) -> Response:
    """The form that adds one person."""
    return page(request, "console/subscriber_new.html", _new_context())


@router.post("/subscribers", dependencies=[Depends(verify_csrf)])
def add_subscriber(
    request: Request,
    organiser: Annotated[Principal, Depends(require_organiser)],
    email: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    organisation: Annotated[str, Form()] = "",
    region: Annotated[str, Form()] = "",
    roles: Annotated[list[str] | None, Form()] = None,
    other_roles: Annotated[str, Form()] = "",
    status: Annotated[str, Form()] = "active",
) -> Response:
    """Add one person (active, or pending to be sent a confirmation link later)."""
    values = {
        "email": email,
        "name": name,
        "organisation": organisation,
        "region": region,
        "roles": roles or [],
        "other_roles": other_roles,
        "status": status,
    }
    try:
        data = _form_input(email, name, organisation, region, roles, other_roles)
        with store(request) as db:
            added = subscriber_record.add(db, data, status=status, by=f"console: {organiser.email}")
            subscriber_id = added.id
    except UserError as exc:
        return page(
            request, "console/subscriber_new.html", _new_context(values, str(exc)), status_code=400
        )
    return RedirectResponse(f"/console/subscribers/{subscriber_id}?done=added", status_code=303)


DONE_MESSAGES = {
    "added": "Subscriber added.",
    "saved": "Changes saved.",
    "unsubscribed": "Unsubscribed: they get no more mail.",
    "resubscribed": "Subscribed again, with the consent you gave recorded.",
}


def _show(
    request: Request, subscriber_id: int, *, error: str | None = None, done: str | None = None
) -> Response:
    with store(request) as db:
        subscriber = subscriber_record.get_subscriber(db, subscriber_id)
        record = subscriber_record.record_of(db, subscriber)
        context = {
            "record": record,
            "s": record.subscriber,
            "roles": BUILTIN_ROLES,
            "error": error,
            "done": DONE_MESSAGES.get(done or ""),
        }
        return page(request, "console/subscriber.html", context, status_code=400 if error else 200)


@router.get("/subscribers/{subscriber_id}", response_class=HTMLResponse)
def show_subscriber(request: Request, subscriber_id: int, done: str = "") -> Response:
    """One person: profile, roles, status history with consent, sends, events, bounces."""
    return _show(request, subscriber_id, done=done)


@router.post("/subscribers/{subscriber_id}", dependencies=[Depends(verify_csrf)])
def edit_subscriber(
    request: Request,
    subscriber_id: int,
    email: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    organisation: Annotated[str, Form()] = "",
    region: Annotated[str, Form()] = "",
    roles: Annotated[list[str] | None, Form()] = None,
    other_roles: Annotated[str, Form()] = "",
) -> Response:
    """Save the profile form."""
    try:
        data = _form_input(email, name, organisation, region, roles, other_roles)
        with store(request) as db:
            subscriber = subscriber_record.get_subscriber(db, subscriber_id)
            subscriber_record.edit(db, subscriber, data)
    except NotFound:
        raise  # the page itself is missing, not a mistake in the form
    except UserError as exc:
        return _show(request, subscriber_id, error=str(exc))
    return RedirectResponse(f"/console/subscribers/{subscriber_id}?done=saved", status_code=303)


@router.post("/subscribers/{subscriber_id}/unsubscribe", dependencies=[Depends(verify_csrf)])
def unsubscribe_subscriber(
    request: Request,
    subscriber_id: int,
    organiser: Annotated[Principal, Depends(require_organiser)],
) -> Response:
    """Unsubscribe the person (the change is recorded with the organiser's address)."""
    with store(request) as db:
        subscriber = subscriber_record.get_subscriber(db, subscriber_id)
        subscriber_record.unsubscribe(subscriber, by=f"console: {organiser.email}")
    return RedirectResponse(
        f"/console/subscribers/{subscriber_id}?done=unsubscribed", status_code=303
    )


@router.post("/subscribers/{subscriber_id}/resubscribe", dependencies=[Depends(verify_csrf)])
def resubscribe_subscriber(
    request: Request,
    subscriber_id: int,
    organiser: Annotated[Principal, Depends(require_organiser)],
    consent: Annotated[str, Form()] = "",
) -> Response:
    """Subscribe an opted-out person again: only with fresh consent, stated in words."""
    try:
        with store(request) as db:
            subscriber = subscriber_record.get_subscriber(db, subscriber_id)
            subscriber_record.resubscribe(
                db, subscriber, consent=consent, by=f"console: {organiser.email}"
            )
    except NotFound:
        raise  # the page itself is missing, not a mistake in the form
    except UserError as exc:
        return _show(request, subscriber_id, error=str(exc))
    return RedirectResponse(
        f"/console/subscribers/{subscriber_id}?done=resubscribed", status_code=303
    )


@router.post("/subscribers/{subscriber_id}/erase", dependencies=[Depends(verify_csrf)])
def erase_subscriber(
    request: Request, subscriber_id: int, confirm_email: Annotated[str, Form()] = ""
) -> Response:
    """Erase the person for good, once their address is typed again to confirm."""
    with store(request) as db:
        subscriber = subscriber_record.get_subscriber(db, subscriber_id)
        if confirm_email.strip().lower() != subscriber.email_key:
            error = "To erase, type their address exactly in the box (nothing was erased)."
            return _show(request, subscriber_id, error=error)
        kept = subscriber_record.erase(db, subscriber)
    context = {
        "title": "Subscriber erased",
        "message": f"Their personal data is gone; {kept} deliveries are kept without it.",
    }
    return page(request, "message.html", context)
