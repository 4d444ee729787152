"""Console: organisers and API tokens — disable, enable, remove; issue and revoke tokens.

Every organiser may manage the others (the console has one role).  Nobody
can disable or remove themselves here, so the console always keeps one
organiser able to sign in; the CLI (``newsletter users``) can do anything.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from newsletter.errors import UserError
from newsletter.models import Organiser
from newsletter.organisers import (
    DEFAULT_TOKEN_DAYS,
    disable,
    enable,
    issue_token,
    list_organisers,
    list_tokens,
    remove,
    revoke_token,
)
from newsletter.web.deps import Principal, page, require_organiser, store, verify_csrf
from newsletter.web.security import MAX_ID

router = APIRouter()
OrganiserId = Annotated[int, Path(ge=1, le=MAX_ID)]


def _context(request: Request, me: Principal, **extra: object) -> dict[str, object]:
    with store(request) as db:
        organisers = [
            {"id": o.id, "email": o.email, "created_at": o.created_at, "disabled": o.disabled_at}
            for o in list_organisers(db)
        ]
        mine = db.get(Organiser, me.id)
        tokens = list_tokens(db, mine) if mine is not None else []
    return {"organisers": organisers, "tokens": tokens, "me": me, **extra}


@router.get("/users", response_class=HTMLResponse)
def users(request: Request, me: Annotated[Principal, Depends(require_organiser)]) -> Response:
    """Organisers with their state, and the signed-in organiser's API tokens."""
    return page(request, "console/users.html", _context(request, me))


def _refused(request: Request, me: Principal, error: str) -> Response:
    """The page again with what could not be done (400)."""
    return page(request, "console/users.html", _context(request, me, error=error), status_code=400)


def _other(db: Session, me: Principal, organiser_id: int) -> Organiser:
    organiser = db.get(Organiser, organiser_id)
    if organiser is None:
        raise HTTPException(404, f"no organiser {organiser_id}")
    if organiser.id == me.id:
        raise UserError("You cannot disable or remove yourself here.")
    return organiser


@router.post("/users/{organiser_id}/{action}", dependencies=[Depends(verify_csrf)])
def change_user(
    request: Request,
    organiser_id: OrganiserId,
    action: str,
    me: Annotated[Principal, Depends(require_organiser)],
    confirm: Annotated[str, Form()] = "",
) -> Response:
    """``disable`` (ends their sessions), ``enable``, or ``remove`` (needs the confirm box)."""
    if action not in ("disable", "enable", "remove"):
        raise HTTPException(404, f"no action {action!r}")
    try:
        with store(request) as db:
            organiser = _other(db, me, organiser_id)
            if action == "disable":
                disable(db, organiser)
            elif action == "enable":
                enable(db, organiser)
            else:
                if confirm != "yes":
                    raise UserError("Tick the box to confirm the removal.")
                remove(db, organiser)
    except UserError as exc:
        return _refused(request, me, str(exc))
    return RedirectResponse("/console/users", status_code=303)


@router.post("/tokens", dependencies=[Depends(verify_csrf)], response_class=HTMLResponse)
def new_token(
    request: Request,
    me: Annotated[Principal, Depends(require_organiser)],
    name: Annotated[str, Form()] = "",
    days: Annotated[int, Form(ge=1, le=366)] = DEFAULT_TOKEN_DAYS,
) -> Response:
    """Issue an API token for the signed-in organiser and show it once."""
    try:
        with store(request) as db:
            organiser = db.get(Organiser, me.id)
            if organiser is None:
                raise HTTPException(404, "organiser not found")
            token = issue_token(db, organiser, name=name, days=days)
    except UserError as exc:
        return _refused(request, me, str(exc))
    return page(request, "console/users.html", _context(request, me, new_token=token))


@router.post("/tokens/{token_id}/revoke", dependencies=[Depends(verify_csrf)])
def revoke(
    request: Request,
    token_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    me: Annotated[Principal, Depends(require_organiser)],
) -> Response:
    """Revoke one of the signed-in organiser's API tokens."""
    with store(request) as db:
        organiser = db.get(Organiser, me.id)
        if organiser is None:
            raise HTTPException(404, "organiser not found")
        revoke_token(db, organiser, token_id)  # NotFound (404) for another's or no token
    return RedirectResponse("/console/users", status_code=303)
