"""Console: sends — review and confirm, schedule, send now, reschedule, test copies,
follow live (polling JSON + chart), pause, resume, cancel.

Nothing is sent or scheduled from a form directly: every form leads to a review
page (editions, subjects, recipients per segment, the UK time) whose Confirm
button carries ``confirmed=yes``; only that post makes the change.
"""

from __future__ import annotations

import io
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from newsletter import delivery_report, send_review, sends, updates
from newsletter.dispatch import control
from newsletter.display import form_value
from newsletter.errors import UserError
from newsletter.segments import count, display_name, list_all
from newsletter.sends import SendError, parse_uk_time
from newsletter.single_message import send_test_copy
from newsletter.transports import TransportError
from newsletter.web.deps import Principal, page, require_organiser, store, verify_csrf
from newsletter.web.security import MAX_ID

router = APIRouter()

# What an organiser's input can be wrong about: each names the field or the thing.
INPUT_ERRORS = (UserError,)


def progress_of(request: Request, send_id: int) -> dict[str, Any]:
    """The send's progress JSON (``delivery_report.progress``); 404 for an unknown send."""
    with store(request) as db:
        return delivery_report.progress(db, send_id)


@router.get("/sends", response_class=HTMLResponse)
def list_sends(request: Request) -> Response:
    """Recent sends with their status and counts."""
    with store(request) as db:
        rows = [sends.to_json(db, s) for s in sends.list_sends(db, limit=100)]
    return page(request, "console/sends.html", {"sends": rows})


def _form_context(
    request: Request, update_id: int | None, values: dict[str, Any] | None = None
) -> dict[str, Any]:
    with store(request) as db:
        segment_rows = [(s.name, display_name(s), count(db, s.name)) for s in list_all(db)]
        records = updates.list_records(db)
        choices = [(r.id, r.title) for r in records]
    return {
        "segments": segment_rows,
        "updates": choices,
        "update_id": update_id,
        "values": values or {"segments": [], "at": "", "subject": ""},
    }


@router.get("/sends/new", response_class=HTMLResponse)
def new_send(
    request: Request,
    update_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    segments: Annotated[list[str] | None, Query()] = None,
    at: str = "",
    subject: str = "",
) -> Response:
    """The scheduling form: update, segments (with their sizes), time, subject.

    The query may fill it in again (the review's "Change" button does).
    """
    values = {"segments": list(segments or []), "at": at, "subject": subject}
    return page(request, "console/send_new.html", _form_context(request, update_id, values))


def _when(at: str) -> datetime | None:
    return parse_uk_time(at, option="time") if at.strip() else None


def _review_page(
    request: Request,
    review: send_review.SendReview,
    *,
    action: str,
    hidden: dict[str, Any],
    confirm_label: str,
    back: str | None = None,
    notice: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    context = {
        "review": review,
        "action": action,
        "hidden": hidden,
        "confirm_label": confirm_label,
        "back": back,
        "notice": notice,
        "error": error,
    }
    return page(request, "console/send_review.html", context, status_code=status_code)


def _new_send_review(
    request: Request,
    update_id: int,
    segments: list[str],
    at: str,
    subject: str,
    *,
    notice: str | None = None,
    error: str | None = None,
) -> Response:
    values = {"segments": segments, "at": at, "subject": subject}
    try:
        with store(request) as db:
            review = send_review.review(
                db, update_id, segments, at=_when(at), subject=subject.strip() or None
            )
    except INPUT_ERRORS as exc:
        context = _form_context(request, update_id, values)
        context["error"] = str(exc)
        return page(request, "console/send_new.html", context, status_code=400)
    label = "Confirm: send now" if review.at is None else f"Confirm: schedule for {review.when}"
    return _review_page(
        request,
        review,
        action="/console/sends",
        hidden={"update_id": update_id, "segments": segments, "at": at, "subject": subject},
        confirm_label=label,
        notice=notice,
        error=error,
        status_code=400 if error else 200,
    )


@router.post("/sends/review", dependencies=[Depends(verify_csrf)])
def review_send(
    request: Request,
    update_id: Annotated[int, Form()],
    segments: Annotated[list[str] | None, Form()] = None,
    at: Annotated[str, Form()] = "",
    subject: Annotated[str, Form()] = "",
) -> Response:
    """The review of a new send: editions, subjects, recipients per segment, UK time."""
    return _new_send_review(request, update_id, list(segments or []), at, subject)


@router.post("/sends", dependencies=[Depends(verify_csrf)])
def create_send(
    request: Request,
    organiser: Annotated[Principal, Depends(require_organiser)],
    update_id: Annotated[int, Form()],
    segments: Annotated[list[str] | None, Form()] = None,
    at: Annotated[str, Form()] = "",
    subject: Annotated[str, Form()] = "",
    confirmed: Annotated[str, Form()] = "",
) -> Response:
    """Create the send once its review is confirmed (without ``confirmed=yes``: the review)."""
    chosen = list(segments or [])
    if confirmed != "yes":
        return _new_send_review(request, update_id, chosen, at, subject)
    try:
        when = send_review.check_time(_when(at))
        with store(request) as db:
            send = sends.create_send(
                db,
                update_id=update_id,
                segments=chosen,
                at=when,
                subject=subject.strip() or None,
                created_by=organiser.email,
            )
            send_id = send.id
    except INPUT_ERRORS as exc:
        values = {"segments": chosen, "at": at, "subject": subject}
        context = _form_context(request, update_id, values)
        context["error"] = str(exc)
        return page(request, "console/send_new.html", context, status_code=400)
    control.start_if_due(send_id)
    return RedirectResponse(f"/console/sends/{send_id}", status_code=303)


@router.post("/sends/test", dependencies=[Depends(verify_csrf)])
def send_test(
    request: Request,
    update_id: Annotated[int, Form()],
    edition: Annotated[str, Form()],
    addresses: Annotated[str, Form()] = "",
    segments: Annotated[list[str] | None, Form()] = None,
    at: Annotated[str, Form()] = "",
    subject: Annotated[str, Form()] = "",
    send_id: Annotated[int | None, Form()] = None,
) -> Response:
    """Send "[Test]" copies of one edition to a list of addresses, then go back.

    Back is the send's page (``send_id``) or the review being looked at.
    """
    try:
        wanted = send_review.test_addresses(addresses)
        with store(request) as db:
            for address in wanted:
                send_test_copy(db, update_id, edition, address, subject=subject.strip() or None)
        notice, error = f"Test copy of the {edition} edition sent to {', '.join(wanted)}.", None
    except INPUT_ERRORS as exc:
        notice, error = None, str(exc)
    except TransportError as exc:
        notice, error = None, f"The mail server refused the test copy: {exc}"
    if send_id is not None:
        return show_send(request, send_id, error=error, notice=notice)
    return _new_send_review(
        request, update_id, list(segments or []), at, subject, notice=notice, error=error
    )


def _existing_review(request: Request, send_id: int, at: datetime | None) -> send_review.SendReview:
    """The review of a scheduled send's change (now, or a new time ``at``)."""
    with store(request) as db:
        send = sends.get_send(db, send_id)
        if send.update_id is None or not send.segments:
            raise SendError(f"send {send_id} is an event notice; it has no editions to review")
        return send_review.review(
            db, send.update_id, list(send.segments), at=at, subject=send.subject
        )


@router.post("/sends/{send_id}/send-now", dependencies=[Depends(verify_csrf)])
def send_now(request: Request, send_id: int, confirmed: Annotated[str, Form()] = "") -> Response:
    """Start a scheduled send now, after its review is confirmed."""
    try:
        if confirmed != "yes":
            review = _existing_review(request, send_id, None)
            return _review_page(
                request,
                review,
                action=f"/console/sends/{send_id}/send-now",
                hidden={},
                confirm_label="Confirm: send now",
                back=f"/console/sends/{send_id}",
            )
        control.send_now(send_id)
    except INPUT_ERRORS as exc:
        return show_send(request, send_id, error=str(exc))
    return RedirectResponse(f"/console/sends/{send_id}", status_code=303)


@router.post("/sends/{send_id}/reschedule", dependencies=[Depends(verify_csrf)])
def reschedule(
    request: Request,
    send_id: int,
    at: Annotated[str, Form()] = "",
    confirmed: Annotated[str, Form()] = "",
) -> Response:
    """Move a scheduled send to another UK time, after its review is confirmed."""
    try:
        when = _when(at)
        if when is None:
            raise UserError("time: choose the new time (or use Send now)")
        if confirmed != "yes":
            review = _existing_review(request, send_id, when)
            return _review_page(
                request,
                review,
                action=f"/console/sends/{send_id}/reschedule",
                hidden={"at": at},
                confirm_label=f"Confirm: reschedule for {review.when}",
                back=f"/console/sends/{send_id}",
            )
        control.reschedule(send_id, when)
    except INPUT_ERRORS as exc:
        return show_send(request, send_id, error=str(exc))
    return RedirectResponse(f"/console/sends/{send_id}", status_code=303)


@router.get("/sends/{send_id}", response_class=HTMLResponse)
def show_send(
    request: Request, send_id: int, error: str | None = None, notice: str | None = None
) -> Response:
    """The send's live progress page (the numbers and chart update by polling)."""
    data = progress_of(request, send_id)
    title = None
    editions: list[str] = []
    if data["update_id"] is not None:
        with store(request) as db:
            title = updates.get_record(db, data["update_id"]).title
            editions = list(data["segments"])
    with store(request) as db:
        why = delivery_report.reasons(db, send_id)
    context = {
        "send": data,
        "reasons": why,
        "update_title": title,
        "editions": editions,
        "error": error,
        "notice": notice,
        "reschedule_value": form_value(
            datetime.fromisoformat(data["scheduled_at"]) if data["scheduled_at"] else None
        ),
    }
    return page(request, "console/send.html", context, status_code=400 if error else 200)


@router.get("/sends/{send_id}/recipients", response_class=HTMLResponse)
def recipients(
    request: Request, send_id: int, status: str = "", q: str = "", after: int = 0
) -> Response:
    """The delivery report: every recipient with status, reason and server reply, paged."""
    data = progress_of(request, send_id)  # 404 for an unknown send
    if status not in delivery_report.FILTERS:
        status = ""
    with store(request) as db:
        rows, next_after = delivery_report.page(db, send_id, status=status, search=q, after=after)
    context = {
        "send": data,
        "rows": rows,
        "status": status,
        "q": q,
        "filters": delivery_report.FILTERS,
        "next_after": next_after,
        "first_page": after == 0,
    }
    return page(request, "console/send_recipients.html", context)


@router.get("/sends/{send_id}/recipients.csv")
def recipients_csv(request: Request, send_id: int, status: str = "", q: str = "") -> Response:
    """The delivery report (filtered as on the page) as CSV."""
    progress_of(request, send_id)
    if status and status not in delivery_report.FILTERS:
        raise HTTPException(400, f"status must be one of {', '.join(delivery_report.FILTERS)}")
    out = io.StringIO()
    with store(request) as db:
        delivery_report.write_csv(
            delivery_report.iter_rows(db, send_id, status=status, search=q), out
        )
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="send-{send_id}-recipients.csv"',
            # Personal data: kept out of the browser's disk cache, as every console page is.
            "Cache-Control": "no-store",
        },
    )


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
