"""Organiser sign-in and sign-out.

Signing in replaces the session cookie with a new one (new CSRF token), so a
session planted before login is worthless (no session fixation).  Attempts
are rate-limited per client address; the page never says whether the
address or the password was wrong.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from newsletter.organisers import authenticate, password_fingerprint
from newsletter.web.deps import (
    client_address,
    page,
    set_session_cookie,
    store,
    verify_csrf,
)
from newsletter.web.errors import TooManyRequests
from newsletter.web.security import SESSION_COOKIE, SessionData, safe_next

router = APIRouter(include_in_schema=False)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/console") -> Response:
    """The sign-in form; ``next`` is where to go afterwards (a local path only)."""
    return page(request, "login.html", {"next": safe_next(next)})


@router.post("/login", dependencies=[Depends(verify_csrf)])
def login(
    request: Request,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/console",
) -> Response:
    """Check the password (argon2); on success set a fresh session and go to ``next``."""
    retry = request.app.state.login_limiter.hit(client_address(request))
    if retry is not None:
        raise TooManyRequests(retry)
    with store(request) as db:
        organiser = authenticate(db, email, password)
        session = (
            SessionData.fresh(organiser.id, password_fingerprint(organiser))
            if organiser is not None
            else None
        )
    if session is None:
        context = {"next": safe_next(next), "error": "Wrong email address or password."}
        return page(request, "login.html", context, status_code=401)
    response = RedirectResponse(safe_next(next), status_code=303)
    set_session_cookie(request, response, session)
    return response


@router.post("/logout", dependencies=[Depends(verify_csrf)])
def logout(request: Request) -> Response:
    """End the session."""
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
