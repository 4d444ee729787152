"""Console: segments — the rule editor with a live count, custom segments added and removed,
display names and descriptions edited."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from newsletter import segments as segment_store
from newsletter.errors import NotFound
from newsletter.segment_rules import RuleError
from newsletter.segments import SegmentError
from newsletter.web.deps import page, store, verify_csrf

router = APIRouter()


def rule_count(request: Request, rule: str) -> dict[str, Any]:
    """``{"ok": true, "count": n}`` or ``{"ok": false, "error": …, "position": p}``."""
    if not rule.strip():
        return {"ok": False, "error": "the rule is empty", "position": 1}
    try:
        with store(request) as db:
            return {"ok": True, "count": segment_store.count_rule(db, rule)}
    except RuleError as exc:
        return {"ok": False, "error": exc.message, "position": exc.position}


def _context(request: Request, **extra: Any) -> dict[str, Any]:
    with store(request) as db:
        rows = [
            (s, segment_store.display_name(s), segment_store.count_rule(db, s.rule))
            for s in segment_store.list_all(db)
        ]
    return {"rows": rows, "values": {}, **extra}


@router.get("/segments", response_class=HTMLResponse)
def list_segments(request: Request) -> Response:
    """Segments with their rules and active audience sizes, and the rule editor."""
    return page(request, "console/segments.html", _context(request))


@router.get("/segments/count")
def count(request: Request, rule: str = "") -> JSONResponse:
    """Live count for the rule editor (called as the organiser types)."""
    return JSONResponse(rule_count(request, rule), headers={"Cache-Control": "no-store"})


@router.post("/segments", dependencies=[Depends(verify_csrf)])
def add_segment(
    request: Request,
    name: Annotated[str, Form()] = "",
    rule: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
    label: Annotated[str, Form()] = "",
    public: Annotated[str | None, Form()] = None,
) -> Response:
    """Create a custom segment; a bad name or rule is shown with the form kept."""
    try:
        with store(request) as db:
            segment_store.add(
                db, name.strip(), rule, description.strip(), label=label, public=public is not None
            )
    except RuleError as exc:
        error = f"Rule, at character {exc.position}: {exc.message}"
    except SegmentError as exc:
        error = str(exc)
    else:
        return RedirectResponse("/console/segments", status_code=303)
    values = {"name": name, "rule": rule, "description": description, "label": label}
    context = _context(request, error=error, values=values)
    return page(request, "console/segments.html", context, status_code=400)


@router.post("/segments/{name}/describe", dependencies=[Depends(verify_csrf)])
def describe_segment(
    request: Request,
    name: str,
    label: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
) -> Response:
    """Change a segment's display name and description (built-ins too)."""
    try:
        with store(request) as db:
            segment_store.describe(db, name, label=label, description=description)
    except SegmentError as exc:
        if isinstance(exc, NotFound):
            raise
        context = _context(request, error=str(exc))
        return page(request, "console/segments.html", context, status_code=400)
    return RedirectResponse("/console/segments", status_code=303)


@router.post("/segments/{name}/delete", dependencies=[Depends(verify_csrf)])
def remove_segment(request: Request, name: str) -> Response:
    """Remove a custom segment (built-ins cannot be removed)."""
    try:
        with store(request) as db:
            segment_store.remove(db, name)
    except SegmentError as exc:
        context = _context(request, error=str(exc))
        return page(request, "console/segments.html", context, status_code=400)
    return RedirectResponse("/console/segments", status_code=303)
