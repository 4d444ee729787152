"""Security properties proved over the whole app, not route by route.

* Every console and API route requires authentication: the app's routes are
  enumerated, each is called without credentials (and with a bad session or
  token), and each one's dependency tree is inspected.
* Every public route is on an explicit list, so a new route must be placed.
* Every state-changing console route checks a CSRF token.
* Sessions cannot be forged or replayed past their age; redirects stay local.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from starlette.routing import Mount
from web_fixtures import PASSWORD, app, client, csrf, login, organiser, transport

from newsletter.throttles import MemoryThrottle
from newsletter.web.deps import require_api_organiser, require_organiser, verify_csrf
from newsletter.web.security import (
    SESSION_SECONDS,
    SessionData,
    read_session,
    safe_next,
    sign_session,
)

__all__ = ["app", "client", "organiser", "transport"]

# Routes anyone may call, and why.  A new public route must be added here.
PUBLIC = {
    "/": "subscribe form",
    "/subscribe": "subscribe form and its POST",
    "/subscribe/check-your-email": "same answer for every address",
    "/confirm/{token}": "double opt-in, authenticated by the signed token",
    "/preferences": "ask for a preferences link (same answer for every address)",
    "/preferences/{token}": "preferences, authenticated by the signed token",
    "/unsubscribe": "where the archive's neutral link leads",
    "/u/{token}": "RFC 8058 one-click, authenticated by the signed token",
    "/archive": "sent updates only",
    "/archive/{update_id}": "sent updates only",
    "/events/{event_id}": "events that went out only",
    "/events/{event_id}.ics": "events that went out only",
    "/calendar": "feed list",
    "/calendar/{segment}.ics": "feeds of sent updates",
    "/login": "sign-in",
    "/logout": "sign-out (CSRF-checked)",
    "/api/v1/openapi.json": "the API's description, no data",
    "/favicon.ico": "the site icon",
    "/webhooks/bounces": "mail servers; authenticated by its own bearer secret",
    "/healthz": "container health check; says only ok or unavailable",
}


def _routes(app: FastAPI) -> Iterator[Any]:
    """Every endpoint route as FastAPI resolves it (included routers flattened, prefixes and
    router-level dependencies applied); static mounts and the OpenAPI route are left out."""
    for context in iter_route_contexts(app.routes):
        original = context.original_route
        if isinstance(original, Mount):
            continue
        if not isinstance(original, APIRoute):
            assert context.path in PUBLIC, context.path
            continue
        yield context


def _calls(dependant: Dependant) -> set[Callable[..., Any]]:
    found: set[Callable[..., Any]] = set()
    for sub in dependant.dependencies:
        if sub.call is not None:
            found.add(sub.call)
        found |= _calls(sub)
    return found


def _concrete(path: str) -> str:
    values = {"segment": "dcs", "name": "custom", "action": "pause", "token": "x" * 40}
    return re.sub(r"{(\w+)}", lambda m: values.get(m.group(1), "1"), path)


def _protected(app: FastAPI) -> list[tuple[str, str]]:
    cases: list[tuple[str, str]] = []
    for route in _routes(app):
        if route.path.startswith(("/console", "/api/v1")):
            cases.extend((method, route.path) for method in sorted(route.methods))
    return cases


def test_every_route_is_console_api_or_listed_public(app: FastAPI) -> None:
    for route in _routes(app):
        if not route.path.startswith(("/console", "/api/v1")):
            assert route.path in PUBLIC, f"{route.path} is public but not listed"
    assert len(_protected(app)) > 40


def test_every_console_and_api_route_depends_on_authentication(app: FastAPI) -> None:
    for route in _routes(app):
        calls = _calls(route.dependant)
        if route.path.startswith("/console"):
            assert require_organiser in calls, route.path
            if route.methods & {"POST", "PUT", "PATCH", "DELETE"}:
                assert verify_csrf in calls, f"{route.path} changes state without CSRF check"
        elif route.path.startswith("/api/v1"):
            assert require_api_organiser in calls, route.path


def test_every_console_and_api_route_refuses_anonymous_callers(
    app: FastAPI, client: TestClient
) -> None:
    forged = sign_session(SessionData.fresh(organiser_id=1, version=1), "another key")
    for method, path in _protected(app):
        url = _concrete(path)
        for cookies in ({}, {"nl_session": forged}):
            client.cookies.clear()
            for name, value in cookies.items():
                client.cookies.set(name, value)
            response = client.request(method, url, follow_redirects=False)
            if path.startswith("/api/v1"):
                assert response.status_code == 401, (method, path)
                assert response.headers["WWW-Authenticate"] == "Bearer"
            elif method == "GET":
                assert response.status_code == 303, (method, path)
                assert response.headers["location"].startswith("/login?next=")
            else:
                assert response.status_code == 401, (method, path)
        bad_token = client.request(
            method, url, headers={"Authorization": "Bearer nlt_guess"}, follow_redirects=False
        )
        assert bad_token.status_code in (401, 303), (method, path)


def test_a_session_for_a_deleted_organiser_is_refused(
    app: FastAPI, client: TestClient, organiser: str
) -> None:
    secret = app.state.settings.secret_key
    ghost = sign_session(SessionData.fresh(organiser_id=999, version=1), secret)
    client.cookies.set("nl_session", ghost)
    assert client.get("/console", follow_redirects=False).status_code == 303


def test_session_cookie_signature_and_age() -> None:
    data = SessionData.fresh(organiser_id=3, version=4)
    value = sign_session(data, "k")
    assert read_session(value, "k") == data
    assert read_session(value, "other") is None
    body, tag = value.rsplit(".", 1)
    assert read_session(body + "x." + tag, "k") is None
    assert read_session(value, "k", now=time.time() + SESSION_SECONDS + 1) is None
    for junk in ("", "abc", ".", "a.b.c", "x" * 2000):
        assert read_session(junk, "k") is None


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/console/sends/3", "/console/sends/3"),
        ("/console?x=1", "/console?x=1"),
        ("https://evil.example", "/console"),
        ("//evil.example", "/console"),
        ("/\\evil.example", "/console"),
        ("/ok\\evil", "/console"),
        ("\t/evil", "/console"),
        ("/x\r\nSet-Cookie: a=b", "/console"),
        ("", "/console"),
        (None, "/console"),
    ],
)
def test_safe_next(target: str | None, expected: str) -> None:
    assert safe_next(target) == expected


def test_rate_limiter_window() -> None:
    limiter = MemoryThrottle(limit=2, window=10.0)
    assert limiter.hit("a", now=0.0) is None
    assert limiter.hit("a", now=1.0) is None
    assert limiter.hit("a", now=2.0) == pytest.approx(8.0)
    assert limiter.hit("b", now=2.0) is None  # per client
    assert limiter.hit("a", now=10.5) is None  # the first hit left the window


def test_login_is_rate_limited(client: TestClient, organiser: str) -> None:
    client.app.state.login_account_limiter.limit = 2  # type: ignore[attr-defined]
    token = csrf(client, "/login")
    codes = [
        client.post(
            "/login", data={"email": organiser, "password": "wrong-wrong", "csrf_token": token}
        ).status_code
        for _ in range(3)
    ]
    assert codes == [401, 401, 429]
    right = client.post(
        "/login", data={"email": organiser, "password": PASSWORD, "csrf_token": token}
    )
    assert right.status_code == 429


def test_session_cookie_flags_and_api_headers(client: TestClient, organiser: str) -> None:
    token = csrf(client, "/login")
    response = client.post(
        "/login",
        data={"email": organiser, "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie
    api = client.get("/api/v1/openapi.json")
    assert api.headers["X-Content-Type-Options"] == "nosniff"


def test_html_is_escaped(client: TestClient, organiser: str) -> None:
    login(client)
    token = csrf(client, "/console/suppressions")
    client.post(
        "/console/suppressions",
        data={"csrf_token": token, "email": "x@example.org", "detail": "<script>alert(1)</script>"},
    )
    page = client.get("/console/suppressions")
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
