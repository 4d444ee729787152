"""Organiser sign-in and sign-out.

Signing in replaces the session cookie with a new one (new CSRF token), so a
session planted before login is worthless (no session fixation).  Failed
attempts are throttled per account and per client address (shared through
Redis when a broker is configured), successful ones are not counted; the
page never says whether the address or the password was wrong.  Signing out
ends the session on the server too: the organiser's session version rises,
so a copy of the cookie kept elsewhere stops working.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from newsletter.models import Organiser
from newsletter.organisers import authenticate, end_sessions
from newsletter.web.deps import (
    client_address,
    page,
    set_session_cookie,
    store,
    verify_csrf,
    web_session,
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
    state = request.app.state
    address = client_address(request)
    account = email.strip().lower()[:320]
    # Each attempt takes its place in both throttles before the password is
    # checked, and gives it back if it succeeds (successes are not counted):
    # checking first and counting afterwards let a burst of concurrent wrong
    # guesses all pass the check before any was counted.
    limiters = [(state.login_address_limiter, address), (state.login_account_limiter, account)]
    waits = [limiter.hit(key) for limiter, key in limiters]
    retry = max((w for w in waits if w is not None), default=None)
    if retry is not None:
        for (limiter, key), wait in zip(limiters, waits, strict=True):
            if wait is None:
                limiter.refund(key)  # a refused attempt is not counted anywhere
        raise TooManyRequests(retry)
    with store(request) as db:
        organiser = authenticate(db, email, password)
        session = (
            SessionData.fresh(organiser.id, organiser.session_version)
            if organiser is not None
            else None
        )
    if session is None:
        context = {"next": safe_next(next), "error": "Wrong email address or password."}
        return page(request, "login.html", context, status_code=401)
    for limiter, key in limiters:
        limiter.refund(key)
    response = RedirectResponse(safe_next(next), status_code=303)
    set_session_cookie(request, response, session)
    return response


@router.post("/logout", dependencies=[Depends(verify_csrf)])
def logout(request: Request) -> Response:
    """End the session here and on the server (every copy of the cookie stops working)."""
    current = web_session(request)
    if current.organiser_id is not None:
        with store(request) as db:
            organiser = db.get(Organiser, current.organiser_id)
            if organiser is not None and organiser.session_version == current.version:
                end_sessions(organiser)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
