"""What every route shares: settings, the store, templates, sessions and the current organiser.

Routes take these through FastAPI dependencies.  Console routes depend on
:func:`require_organiser` (a visitor is sent to the login page) and, for
changes, :func:`verify_csrf`; API routes depend on :func:`require_api_organiser`
(a bearer token).  ``tests/test_web_security.py`` proves every console and
API route does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from newsletter import display
from newsletter.config import Settings
from newsletter.db import engine_for, session_scope
from newsletter.models import Organiser
from newsletter.organisers import organiser_for_token
from newsletter.paths import templates_dir
from newsletter.web.security import (
    CSRF_FIELD,
    CSRF_HEADER,
    SESSION_COOKIE,
    SESSION_SECONDS,
    SessionData,
    csrf_matches,
    read_session,
    sign_session,
)


@dataclass(frozen=True)
class Principal:
    """The signed-in organiser, detached from any database session."""

    id: int
    email: str


class LoginRequired(Exception):  # noqa: N818 (a control-flow signal, not an error)
    """Raised by :func:`require_organiser`; the app answers with the login page redirect."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def make_templates() -> Jinja2Templates:
    """The web pages' Jinja2 environment: autoescaped HTML from ``templates/web``."""
    env = Environment(
        loader=FileSystemLoader(str(templates_dir() / "web")),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    # Times and counts are written for people (newsletter.display).
    env.filters["uk_time"] = display.uk_time
    env.filters["uk_time_seconds"] = display.uk_time_seconds
    env.filters["uk_time_iso"] = display.uk_time_iso
    env.filters["plural"] = display.plural
    env.filters["form_time"] = display.form_value
    return Jinja2Templates(env=env)


def settings_of(request: Request) -> Settings:
    """The settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


def engine_of(request: Request) -> Engine:
    """The store's engine for the app's settings."""
    return engine_for(settings_of(request).database_url)


@contextmanager
def store(request: Request) -> Iterator[Session]:
    """A session committed at the end of the block (before the response is built)."""
    with session_scope(engine_of(request)) as session:
        yield session


def streamed(request: Request, chunks: Callable[[Session], Iterator[str]]) -> Iterator[str]:
    """``chunks(session)`` from a session of its own, held while the response is sent.

    For a ``StreamingResponse``: the route returns before the body is read,
    so the session must live as long as the generator, not the route.
    """
    with store(request) as db:
        yield from chunks(db)


def client_address(request: Request) -> str:
    """The client's IP address as the server saw it ("unknown" if the server gave none)."""
    return request.client.host if request.client else "unknown"


def web_session(request: Request) -> SessionData:
    """The request's session, made fresh (and set by :func:`page`) when there is none."""
    cached: SessionData | None = getattr(request.state, "web_session", None)
    if cached is not None:
        return cached
    keys = settings_of(request).verification_keys
    data = read_session(request.cookies.get(SESSION_COOKIE), keys)
    if data is None:
        data = SessionData.fresh()
        request.state.new_session = True
    request.state.web_session = data
    return data


def set_session_cookie(request: Request, response: Response, data: SessionData) -> None:
    """Store ``data`` in the session cookie: HttpOnly, SameSite=Lax, Secure over HTTPS."""
    settings = settings_of(request)
    response.set_cookie(
        SESSION_COOKIE,
        sign_session(data, settings.secret_key),
        max_age=SESSION_SECONDS,
        httponly=True,
        samesite="lax",
        secure=settings.base_url.startswith("https://"),
        path="/",
    )


def page(
    request: Request, name: str, context: dict[str, Any] | None = None, status_code: int = 200
) -> HTMLResponse:
    """Render template ``name`` with the CSRF token and the organiser (if any) in context."""
    session = web_session(request)
    templates: Jinja2Templates = request.app.state.templates
    values: dict[str, Any] = {
        "csrf_field": CSRF_FIELD,
        "csrf_token": session.csrf,
        "organiser": getattr(request.state, "organiser", None),
    }
    values.update(context or {})
    response = templates.TemplateResponse(request, name, values, status_code=status_code)
    if getattr(request.state, "new_session", False):
        set_session_cookie(request, response, session)
    # Pages show personal data or carry tokens: keep them out of shared caches.
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def current_organiser(request: Request) -> Principal | None:
    """The organiser of the session cookie, or None.

    None also when the server ended the session since (sign-out elsewhere,
    password change, disabling: the session version moved on) or the
    organiser is disabled or gone.
    """
    session = web_session(request)
    if session.organiser_id is None:
        return None
    with store(request) as db:
        organiser = db.get(Organiser, session.organiser_id)
        if (
            organiser is None
            or organiser.disabled_at is not None
            or organiser.session_version != session.version
        ):
            return None
        return Principal(organiser.id, organiser.email)


def require_organiser(request: Request) -> Principal:
    """Dependency of every console route: the signed-in organiser, else LoginRequired."""
    principal = current_organiser(request)
    if principal is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(quote(target, safe="/?=&"))
    request.state.organiser = principal
    return principal


async def verify_csrf(request: Request) -> None:
    """Dependency of every state-changing form route: the CSRF token must match the session.

    The token comes from the form field ``csrf_token`` or the ``X-CSRF-Token``
    header (for fetch() calls).  Raises HTTPException(403) otherwise.
    """
    submitted = request.headers.get(CSRF_HEADER)
    if submitted is None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get(CSRF_FIELD)
            submitted = value if isinstance(value, str) else None
    if not csrf_matches(web_session(request), submitted):
        raise HTTPException(403, "The form has expired or did not come from this site. Reload.")


def require_api_organiser(request: Request) -> Principal:
    """Dependency of every API route: ``Authorization: Bearer <token>``, else 401."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        with store(request) as db:
            organiser = organiser_for_token(db, token.strip())
            if organiser is not None:
                return Principal(organiser.id, organiser.email)
    raise HTTPException(
        401, "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"}
    )
