"""API: subscribers (search, upsert, import, export), segments and the suppression list."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response, StreamingResponse

from newsletter import segments as segment_store
from newsletter import suppressions
from newsletter.models import SUBSCRIBER_STATUSES, Subscriber
from newsletter.segment_rules import RuleError
from newsletter.segments import SegmentError
from newsletter.subscriber_csv import CsvFormatError
from newsletter.subscribers import SubscriberError, SubscriberInput, by_key, to_json, upsert
from newsletter.web.api.schemas import (
    RuleIn,
    SegmentFeedIn,
    SegmentIn,
    SubscriberIn,
    SuppressionIn,
)
from newsletter.web.deps import store
from newsletter.web.services import (
    PAGE_SIZE,
    export_subscribers,
    import_subscribers,
    report_json,
    search_subscribers,
)

router = APIRouter()


@router.get("/subscribers", tags=["subscribers"])
def list_subscribers(
    request: Request, q: str = "", status: str = "", after: int = 0, limit: int = PAGE_SIZE
) -> dict[str, Any]:
    """Subscribers matching ``q`` (address, name, organisation), by id after ``after``.

    ``next_after`` is the ``after`` of the next page, null on the last page.
    """
    if status and status not in SUBSCRIBER_STATUSES:
        raise HTTPException(422, f"status must be one of {', '.join(SUBSCRIBER_STATUSES)}")
    limit = max(1, min(limit, 500))
    with store(request) as db:
        rows = search_subscribers(db, q, status, after, limit + 1)
        items = [to_json(s) for s in rows[:limit]]
    next_after = items[-1]["id"] if len(rows) > limit else None
    return {"items": items, "next_after": next_after}


@router.post("/subscribers", tags=["subscribers"])
def put_subscriber(request: Request, body: SubscriberIn) -> dict[str, Any]:
    """Create or update a subscriber by address (new ones are active unless ``status`` says).

    An opted-out subscriber is never made active again this way.
    """
    try:
        wanted = SubscriberInput.build(
            body.email,
            name=body.name,
            organisation=body.organisation,
            region=body.region,
            roles=body.roles,
            status=body.status,
        )
    except SubscriberError as exc:
        raise HTTPException(422, str(exc)) from exc
    with store(request) as db:
        upsert(db, [wanted], default_status="active", consent_source="api")
        subscriber = by_key(db, wanted.email_key)
        assert subscriber is not None  # just upserted in this transaction
        db.refresh(subscriber)
        return to_json(subscriber)


@router.get("/subscribers/export", tags=["subscribers"], response_class=Response)
def export(request: Request) -> Response:
    """Every subscriber as CSV (the import format)."""
    return StreamingResponse(export_subscribers(request), media_type="text/csv; charset=utf-8")


@router.post("/subscribers/import", tags=["subscribers"])
async def import_csv(request: Request) -> dict[str, Any]:
    """Import a CSV request body (``Content-Type: text/csv``); rejected lines are listed."""
    data = await request.body()
    return _import(request, data)


def _import(request: Request, data: bytes) -> dict[str, Any]:
    try:
        with store(request) as db:
            return report_json(import_subscribers(db, data, "api.csv"))
    except CsvFormatError as exc:
        raise HTTPException(422, str(exc)) from exc


@router.get("/subscribers/{subscriber_id}", tags=["subscribers"])
def get_subscriber(request: Request, subscriber_id: int) -> dict[str, Any]:
    """One subscriber, with roles and consent record."""
    with store(request) as db:
        subscriber = db.get(Subscriber, subscriber_id)
        if subscriber is None:
            raise HTTPException(404, f"no subscriber {subscriber_id}")
        return to_json(subscriber)


def _segment_json(db: Any, segment: Any) -> dict[str, Any]:
    return {
        "name": segment.name,
        "rule": segment.rule,
        "description": segment.description,
        "builtin": segment.builtin,
        "public": segment.public,
        "count": segment_store.count_rule(db, segment.rule),
    }


@router.get("/segments", tags=["segments"])
def list_segments(request: Request) -> list[dict[str, Any]]:
    """Segments with their rules and active audience sizes."""
    with store(request) as db:
        return [_segment_json(db, s) for s in segment_store.list_all(db)]


@router.post("/segments", tags=["segments"], status_code=201)
def add_segment(request: Request, body: SegmentIn) -> dict[str, Any]:
    """Create a custom segment; 422 names the rule position or the name problem."""
    try:
        with store(request) as db:
            return _segment_json(
                db,
                segment_store.add(db, body.name, body.rule, body.description, public=body.public),
            )
    except RuleError as exc:
        raise HTTPException(422, {"error": exc.message, "position": exc.position}) from exc
    except SegmentError as exc:
        raise HTTPException(422, str(exc)) from exc


@router.post("/segments/count", tags=["segments"])
def count_rule(request: Request, body: RuleIn) -> dict[str, Any]:
    """How many active subscribers a rule selects (the live count)."""
    try:
        with store(request) as db:
            return {"count": segment_store.count_rule(db, body.rule)}
    except RuleError as exc:
        raise HTTPException(422, {"error": exc.message, "position": exc.position}) from exc


@router.patch("/segments/{name}", tags=["segments"])
def publish_segment(request: Request, name: str, body: SegmentFeedIn) -> dict[str, Any]:
    """List (``public: true``) or unlist the segment's calendar feed on /calendar."""
    try:
        with store(request) as db:
            return _segment_json(db, segment_store.set_public(db, name, body.public))
    except SegmentError as exc:
        raise HTTPException(404, str(exc)) from exc


@router.delete("/segments/{name}", tags=["segments"], status_code=204)
def remove_segment(request: Request, name: str) -> Response:
    """Remove a custom segment."""
    try:
        with store(request) as db:
            segment_store.remove(db, name)
    except SegmentError as exc:
        raise HTTPException(409 if "built in" in str(exc) else 404, str(exc)) from exc
    return Response(status_code=204)


@router.get("/suppressions", tags=["suppressions"])
def list_suppressions(request: Request, q: str = "") -> list[dict[str, Any]]:
    """Suppressed addresses, newest first."""
    with store(request) as db:
        return [e.to_json() for e in suppressions.list_suppressions(db, containing=q, limit=500)]


@router.post("/suppressions", tags=["suppressions"], status_code=201)
def suppress(request: Request, body: SuppressionIn) -> dict[str, Any]:
    """Suppress an address by hand; idempotent."""
    try:
        with store(request) as db:
            entry, _ = suppressions.add_suppression(db, body.email, "manual", body.detail)
            return entry.to_json()
    except SubscriberError as exc:
        raise HTTPException(422, str(exc)) from exc


@router.delete("/suppressions/{suppression_id}", tags=["suppressions"], status_code=204)
def unsuppress(request: Request, suppression_id: int) -> Response:
    """Lift a suppression."""
    with store(request) as db:
        if not suppressions.remove_suppression_by_id(db, suppression_id):
            raise HTTPException(404, f"no suppression {suppression_id}")
    return Response(status_code=204)
