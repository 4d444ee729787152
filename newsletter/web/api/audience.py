"""API: subscribers (search, upsert, import, export), segments and the suppression list."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from newsletter import segments as segment_store
from newsletter import subscriber_record, subscribers, suppressions
from newsletter.dispatch.queue import get_queue
from newsletter.errors import NotFound
from newsletter.imports import (
    create_job,
    decode_upload,
    estimated_rows,
    get_job,
    job_json,
    report_json,
)
from newsletter.subscriber_csv import export_chunks
from newsletter.subscriber_csv import import_csv as import_csv_text
from newsletter.subscribers import PAGE_SIZE, SubscriberInput, by_key, to_json, upsert
from newsletter.web.api.schemas import (
    ConsentIn,
    RuleIn,
    SegmentIn,
    SegmentPatch,
    SubscriberIn,
    SubscriberPatch,
    SuppressionIn,
)
from newsletter.web.deps import Principal, require_api_organiser, settings_of, store, streamed
from newsletter.web.security import MAX_ID, read_limited

router = APIRouter()


@router.get("/subscribers", tags=["subscribers"])
def list_subscribers(
    request: Request,
    q: Annotated[str, Query(max_length=200)] = "",
    status: str = "",
    after: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = PAGE_SIZE,
) -> dict[str, Any]:
    """Subscribers matching ``q`` (address, name, organisation), by id after ``after``.

    ``next_after`` is the ``after`` of the next page, null on the last page.
    """
    with store(request) as db:
        rows, next_after = subscribers.search(db, q, status, after, limit)
        return {"items": [to_json(s) for s in rows], "next_after": next_after}


@router.post("/subscribers", tags=["subscribers"])
def put_subscriber(request: Request, body: SubscriberIn) -> dict[str, Any]:
    """Create or update a subscriber by address (new ones are active unless ``status`` says).

    An opted-out subscriber is never made active again this way.
    """
    wanted = SubscriberInput.build(
        body.email,
        name=body.name,
        organisation=body.organisation,
        region=body.region,
        roles=body.roles,
        status=body.status,
    )
    with store(request) as db:
        upsert(db, [wanted], default_status="active", consent_source="api")
        subscriber = by_key(db, wanted.email_key)
        assert subscriber is not None  # just upserted in this transaction
        db.refresh(subscriber)
        return to_json(subscriber)


@router.get("/subscribers/export", tags=["subscribers"], response_class=Response)
def export(request: Request) -> Response:
    """Every subscriber as CSV (the import format)."""
    return StreamingResponse(streamed(request, export_chunks), media_type="text/csv; charset=utf-8")


@router.post(
    "/subscribers/import",
    tags=["subscribers"],
    responses={202: {"description": "A big file: queued as an import job (see /imports/{id})"}},
)
async def import_csv(
    request: Request, principal: Annotated[Principal, Depends(require_api_organiser)]
) -> Response:
    """Import a CSV request body (``Content-Type: text/csv``); rejected lines are listed.

    The body is streamed and refused with 413 past ``MAX_UPLOAD_BYTES``
    (10 MB by default).  Up to ``IMPORT_INLINE_ROWS`` rows the import runs
    at once (off the event loop) and the answer is the report; a bigger
    file is queued as an import job and the answer is 202 with the job,
    whose progress ``GET /api/v1/imports/{id}`` reports.
    """
    limit = settings_of(request).max_upload_bytes
    data = await read_limited(request, limit)
    return await run_in_threadpool(_import, request, data, principal.email)


def _import(request: Request, data: bytes, who: str) -> Response:
    text = decode_upload(data, "api.csv")
    if estimated_rows(text) > settings_of(request).import_inline_rows:
        with store(request) as db:
            job = create_job(db, text, "api.csv", created_by=who)
            body = job_json(job)
        get_queue().enqueue("run_import", body["id"])
        return JSONResponse(body, status_code=202)
    with store(request) as db:
        return JSONResponse(report_json(import_csv_text(db, text, source="api.csv"), text))


@router.get("/imports/{job_id}", tags=["subscribers"])
def import_job(request: Request, job_id: Annotated[int, Path(ge=1, le=MAX_ID)]) -> dict[str, Any]:
    """An import job: status (queued, running, finished, failed), rows done, the report."""
    with store(request) as db:
        return job_json(get_job(db, job_id))


@router.get("/subscribers/{subscriber_id}", tags=["subscribers"])
def get_subscriber(request: Request, subscriber_id: int) -> dict[str, Any]:
    """One subscriber's record: profile, roles, consent, status history, sends, events, reports."""
    with store(request) as db:
        subscriber = subscriber_record.get_subscriber(db, subscriber_id)
        return subscriber_record.record_json(subscriber_record.record_of(db, subscriber))


@router.patch("/subscribers/{subscriber_id}", tags=["subscribers"])
def edit_subscriber(request: Request, subscriber_id: int, body: SubscriberPatch) -> dict[str, Any]:
    """Change profile fields (address, name, organisation, region, roles)."""
    with store(request) as db:
        subscriber = subscriber_record.get_subscriber(db, subscriber_id)
        wanted = SubscriberInput.build(
            body.email if body.email is not None else subscriber.email,
            name=body.name if body.name is not None else subscriber.name,
            organisation=(
                body.organisation if body.organisation is not None else subscriber.organisation
            ),
            region=body.region if body.region is not None else subscriber.region,
            roles=body.roles if body.roles is not None else subscriber.role_names,
        )
        subscriber_record.edit(db, subscriber, wanted)
        return to_json(subscriber)


@router.post("/subscribers/{subscriber_id}/unsubscribe", tags=["subscribers"])
def unsubscribe(
    request: Request,
    subscriber_id: int,
    organiser: Annotated[Principal, Depends(require_api_organiser)],
) -> dict[str, Any]:
    """Unsubscribe the person; idempotent (an opted-out status is kept)."""
    with store(request) as db:
        subscriber = subscriber_record.get_subscriber(db, subscriber_id)
        subscriber_record.unsubscribe(subscriber, by=f"api: {organiser.email}")
        return to_json(subscriber)


@router.post("/subscribers/{subscriber_id}/resubscribe", tags=["subscribers"])
def resubscribe(
    request: Request,
    subscriber_id: int,
    body: ConsentIn,
    organiser: Annotated[Principal, Depends(require_api_organiser)],
) -> dict[str, Any]:
    """Make an opted-out person active again on fresh consent (422 without it)."""
    with store(request) as db:
        subscriber = subscriber_record.get_subscriber(db, subscriber_id)
        subscriber_record.resubscribe(
            db, subscriber, consent=body.consent, by=f"api: {organiser.email}"
        )
        return to_json(subscriber)


@router.delete("/subscribers/{subscriber_id}", tags=["subscribers"])
def erase(request: Request, subscriber_id: int) -> dict[str, Any]:
    """Erase the person (GDPR); their deliveries stay without personal data (count returned)."""
    with store(request) as db:
        kept = subscriber_record.erase(db, subscriber_record.get_subscriber(db, subscriber_id))
    return {"erased": subscriber_id, "deliveries_kept_anonymised": kept}


def _segment_json(db: Any, segment: Any) -> dict[str, Any]:
    return {
        "name": segment.name,
        "label": segment_store.display_name(segment),
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
    with store(request) as db:
        created = segment_store.add(
            db, body.name, body.rule, body.description, body.label, public=body.public
        )
        return _segment_json(db, created)


@router.post("/segments/count", tags=["segments"])
def count_rule(request: Request, body: RuleIn) -> dict[str, Any]:
    """How many active subscribers a rule selects (the live count); a bad rule is a 422
    whose ``detail`` is ``{"error": …, "position": n}``."""
    with store(request) as db:
        return {"count": segment_store.count_rule(db, body.rule)}


@router.patch("/segments/{name}", tags=["segments"])
def patch_segment(request: Request, name: str, body: SegmentPatch) -> dict[str, Any]:
    """Change a segment's display name (``label``), description, and whether its
    calendar feed is listed on /calendar (``public``); built-ins too."""
    with store(request) as db:
        segment = segment_store.describe(db, name, label=body.label, description=body.description)
        if body.public is not None:
            segment = segment_store.set_public(db, name, body.public)
        return _segment_json(db, segment)


@router.delete("/segments/{name}", tags=["segments"], status_code=204)
def remove_segment(request: Request, name: str) -> Response:
    """Remove a custom segment (409 for a built-in one)."""
    with store(request) as db:
        segment_store.remove(db, name)
    return Response(status_code=204)


@router.get("/suppressions", tags=["suppressions"])
def list_suppressions(request: Request, q: str = "") -> list[dict[str, Any]]:
    """Suppressed addresses, newest first."""
    with store(request) as db:
        return [e.to_json() for e in suppressions.list_suppressions(db, containing=q, limit=500)]


@router.post("/suppressions", tags=["suppressions"], status_code=201)
def suppress(request: Request, body: SuppressionIn) -> dict[str, Any]:
    """Suppress an address by hand; idempotent."""
    with store(request) as db:
        entry, _ = suppressions.add_suppression(db, body.email, "manual", body.detail)
        return entry.to_json()


@router.delete("/suppressions/{suppression_id}", tags=["suppressions"], status_code=204)
def unsuppress(request: Request, suppression_id: int) -> Response:
    """Lift a suppression."""
    with store(request) as db:
        if not suppressions.remove_suppression_by_id(db, suppression_id):
            raise NotFound(f"no suppression {suppression_id}")
    return Response(status_code=204)
