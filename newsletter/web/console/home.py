"""The console's front page and the suppression list."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from newsletter.sends import list_sends
from newsletter.subscribers import SubscriberError, count_by_status
from newsletter.suppressions import add_suppression, list_suppressions, remove_suppression_by_id
from newsletter.updates import list_records
from newsletter.web.deps import page, store, verify_csrf

router = APIRouter()


def dashboard(request: Request) -> Response:
    """Counts of subscribers by status, the latest updates and sends."""
    with store(request) as db:
        by_status = count_by_status(db)
        latest = list_records(db, limit=5)
        recent = list_sends(db, limit=5)
        context = {"by_status": by_status, "updates": latest, "sends": recent}
        return page(request, "console/home.html", context)


@router.get("/suppressions", response_class=HTMLResponse)
def suppressions(request: Request, q: str = "", error: str | None = None) -> Response:
    """Addresses never sent to (hard bounces, complaints, manual entries)."""
    with store(request) as db:
        rows = list_suppressions(db, containing=q, limit=500)
        return page(request, "console/suppressions.html", {"rows": rows, "q": q, "error": error})


@router.post("/suppressions", dependencies=[Depends(verify_csrf)])
def suppress(
    request: Request, email: Annotated[str, Form()] = "", detail: Annotated[str, Form()] = ""
) -> Response:
    """Add an address to the suppression list by hand."""
    try:
        with store(request) as db:
            add_suppression(db, email, "manual", detail)
    except SubscriberError as exc:
        with store(request) as db:
            rows = list_suppressions(db, limit=500)
            context = {"rows": rows, "q": "", "error": exc.reason}
            return page(request, "console/suppressions.html", context, status_code=400)
    return RedirectResponse("/console/suppressions", status_code=303)


@router.post("/suppressions/{suppression_id}/delete", dependencies=[Depends(verify_csrf)])
def unsuppress(request: Request, suppression_id: int) -> Response:
    """Lift a suppression (the subscriber's status stays as it is)."""
    with store(request) as db:
        remove_suppression_by_id(db, suppression_id)
    return RedirectResponse("/console/suppressions", status_code=303)
