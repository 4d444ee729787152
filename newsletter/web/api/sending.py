"""API: sends — schedule, test copies, progress with timeline, pause, resume, cancel."""

from __future__ import annotations

import io
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from newsletter import delivery_report, send_review, sends
from newsletter.dispatch import control
from newsletter.sends import parse_uk_time
from newsletter.single_message import send_test_copy
from newsletter.web.api.schemas import ProofIn, RescheduleIn, SendIn
from newsletter.web.deps import Principal, require_api_organiser, store
from newsletter.web.errors import named_in_body

router = APIRouter(tags=["sends"])


def _progress(request: Request, send_id: int) -> dict[str, Any]:
    """The send's progress JSON (``delivery_report.progress``); 404 for an unknown send."""
    with store(request) as db:
        return delivery_report.progress(db, send_id)


@router.get("/sends")
def list_sends(
    request: Request, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> list[dict[str, Any]]:
    """The most recent sends with their counts."""
    with store(request) as db:
        return [sends.to_json(db, s) for s in sends.list_sends(db, max(1, min(limit, 500)))]


@router.post("/sends", status_code=201)
def create_send(
    request: Request,
    body: SendIn,
    organiser: Principal = Depends(require_api_organiser),  # noqa: B008 (FastAPI idiom)
) -> dict[str, Any]:
    """Schedule a send of an update to segments (now when ``at`` is absent; never in the past).

    ``POST /sends/review`` answers what this would do, without doing it.
    """
    with named_in_body(), store(request) as db:
        send = sends.create_send(
            db,
            update_id=body.update_id,
            segments=body.segments,
            at=send_review.check_time(parse_uk_time(body.at, option="at") if body.at else None),
            subject=body.subject,
            created_by=organiser.email,
        )
        send_id = send.id
    control.start_if_due(send_id)
    return _progress(request, send_id)


@router.post("/sends/review")
def review_send(request: Request, body: SendIn) -> dict[str, Any]:
    """What ``POST /sends`` would do: editions, subjects, recipients per segment, UK time."""
    with named_in_body(), store(request) as db:
        when = parse_uk_time(body.at, option="at") if body.at else None
        review = send_review.review(
            db, body.update_id, body.segments, at=when, subject=body.subject
        )
    return review.to_json()


@router.post("/sends/test")
def test_copy(
    request: Request,
    body: ProofIn,
    organiser: Principal = Depends(require_api_organiser),  # noqa: B008
) -> dict[str, Any]:
    """Send "[Test]" copies of the segment's edition to ``emails`` (or ``email``, or the caller).

    Answers ``to`` and ``message_id`` of the first copy and ``sent``: every
    address with its Message-ID; 502 when the mail server refuses one.
    """
    wanted = send_review.test_addresses(body.emails or [body.email or organiser.email])
    sent = []
    with named_in_body(), store(request) as db:
        for address in wanted:
            message_id = send_test_copy(db, body.update_id, body.segment, address)
            sent.append({"to": address, "message_id": message_id})
    return {**sent[0], "sent": sent}


@router.get("/sends/{send_id}")
def get_send(request: Request, send_id: int) -> dict[str, Any]:
    """Status, counts (planned = sent + failed + skipped + pending) and the timeline."""
    return _progress(request, send_id)


def _exists(request: Request, send_id: int) -> None:
    """404 for an unknown send, before anything else is looked at."""
    with store(request) as db:
        sends.get_send(db, send_id)


def _act(request: Request, send_id: int, action: str) -> dict[str, Any]:
    """Pause, resume or cancel; 409 when the send's status forbids it."""
    _exists(request, send_id)
    control.apply(send_id, action)
    return _progress(request, send_id)


@router.get("/sends/{send_id}/recipients")
def recipients(
    request: Request, send_id: int, status: str = "", q: str = "", after: int = 0, limit: int = 50
) -> dict[str, Any]:
    """The delivery report, a page at a time: every recipient with status, reason, reply.

    ``status`` filters (sent, failed, skipped, retrying, waiting, bounced,
    complained, unsubscribed, not_delivered); ``q`` matches address or name;
    ``next_after`` is the ``after`` of the next page (null on the last).
    ``reasons`` summarises why recipients did not get it.
    """
    _exists(request, send_id)
    with store(request) as db:
        rows, next_after = delivery_report.page(
            db, send_id, status=status, search=q, after=after, limit=limit
        )
        why = delivery_report.reasons(db, send_id)
    return {
        "items": [r.to_json() for r in rows],
        "next_after": next_after,
        "reasons": [r.to_json() for r in why],
    }


@router.get("/sends/{send_id}/recipients.csv", response_class=Response)
def recipients_csv(request: Request, send_id: int, status: str = "", q: str = "") -> Response:
    """The delivery report as CSV (filtered like ``/recipients``)."""
    _exists(request, send_id)
    out = io.StringIO()
    with store(request) as db:
        delivery_report.write_csv(
            delivery_report.iter_rows(db, send_id, status=status, search=q), out
        )
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8")


@router.post("/sends/{send_id}/send-now")
def send_now(request: Request, send_id: int) -> dict[str, Any]:
    """Start a scheduled send now instead of at its time (409 unless it is scheduled)."""
    _exists(request, send_id)
    control.send_now(send_id)
    return _progress(request, send_id)


@router.post("/sends/{send_id}/reschedule")
def reschedule(request: Request, send_id: int, body: RescheduleIn) -> dict[str, Any]:
    """Move a scheduled send to another time (UK unless it carries an offset; never the past).

    422 for a time that cannot be read or has passed, 409 unless the send is scheduled.
    """
    _exists(request, send_id)
    control.reschedule(send_id, parse_uk_time(body.at, option="at"))
    return _progress(request, send_id)


@router.post("/sends/{send_id}/pause")
def pause(request: Request, send_id: int) -> dict[str, Any]:
    """Pause a scheduled or running send."""
    return _act(request, send_id, "pause")


@router.post("/sends/{send_id}/resume")
def resume(request: Request, send_id: int) -> dict[str, Any]:
    """Resume a paused send."""
    return _act(request, send_id, "resume")


@router.post("/sends/{send_id}/cancel")
def cancel(request: Request, send_id: int) -> dict[str, Any]:
    """Cancel a send that has not finished (pending deliveries become skipped)."""
    return _act(request, send_id, "cancel")
