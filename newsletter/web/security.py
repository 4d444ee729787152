"""Web security: the signed session cookie, CSRF tokens, headers, rate limits, redirects.

The session is a cookie holding ``base64(json) . HMAC-SHA256`` signed with
``settings.secret_key`` (domain-separated from the email tokens; the previous
keys of a rotation still verify).  It carries the organiser id (or none for a
visitor), the organiser's session version (the server raises it on sign-out,
password change and disabling, which ends every session issued before), the
issue time (sessions end after :data:`SESSION_SECONDS`) and the CSRF token
that forms echo back (synchronizer token pattern, OWASP).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import unquote_plus

from fastapi import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SESSION_COOKIE: Final = "nl_session"
SESSION_SECONDS: Final = 12 * 3600
CSRF_FIELD: Final = "csrf_token"
CSRF_HEADER: Final = "x-csrf-token"
_DOMAIN: Final = b"newsletter.web.session.v1\x00"

# The app's own pages: scripts and styles only from our static folder.
PAGE_CSP: Final = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "frame-src 'self'; frame-ancestors 'self'; form-action 'self'; base-uri 'none'; "
    "object-src 'none'"
)
# Rendered email shown in a browser (archive, previews): inline styles are how
# email is written, but nothing may run, submit or load from elsewhere except images.
EMAIL_CSP: Final = (
    "default-src 'none'; img-src https: data:; style-src 'unsafe-inline'; "
    "frame-ancestors 'self'; form-action 'none'; base-uri 'none'"
)


@dataclass(frozen=True)
class SessionData:
    """A verified session: ``organiser_id`` None for an anonymous visitor."""

    csrf: str
    issued: int
    organiser_id: int | None = None
    version: int | None = None

    @classmethod
    def fresh(cls, organiser_id: int | None = None, version: int | None = None) -> SessionData:
        """A new session with a new CSRF token (login rotates it: no session fixation)."""
        return cls(secrets.token_urlsafe(24), int(time.time()), organiser_id, version)


def _mac(secret: str, body: bytes) -> str:
    digest = hmac.new(secret.encode("utf-8"), _DOMAIN + body, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def sign_session(data: SessionData, secret: str) -> str:
    """The cookie value for ``data``."""
    payload: dict[str, Any] = {"c": data.csrf, "t": data.issued}
    if data.organiser_id is not None:
        payload["o"] = data.organiser_id
        payload["v"] = data.version
    body = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode())
    return body.rstrip(b"=").decode("ascii") + "." + _mac(secret, body.rstrip(b"="))


def read_session(
    value: str | None, secret: str | Sequence[str], now: float | None = None
) -> SessionData | None:
    """The session in cookie ``value``, or None when absent, tampered with, malformed or old.

    ``secret`` is the key, or the current key then the previous ones (rotation).
    """
    if not value or "." not in value or len(value) > 1024:
        return None
    body, tag = value.rsplit(".", 1)
    keys = (secret,) if isinstance(secret, str) else tuple(secret)
    genuine = False
    for key in keys:
        genuine = hmac.compare_digest(tag, _mac(key, body.encode("ascii", "replace"))) | genuine
    if not genuine:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        csrf, issued = str(payload["c"]), int(payload["t"])
        organiser = payload.get("o")
        version = payload.get("v")
        organiser_id = int(organiser) if organiser is not None else None
        session_version = int(version) if version is not None else None
    except (binascii.Error, ValueError, KeyError, TypeError, AttributeError):
        return None
    if (now if now is not None else time.time()) - issued > SESSION_SECONDS:
        return None
    return SessionData(csrf, issued, organiser_id, session_version)


def csrf_matches(session: SessionData | None, submitted: str | None) -> bool:
    """True when ``submitted`` is the session's CSRF token (constant-time compare)."""
    if session is None or not submitted:
        return False
    return hmac.compare_digest(session.csrf.encode(), submitted.encode("utf-8", "replace"))


def safe_next(target: str | None, default: str = "/console") -> str:
    """``target`` if it is a path on this site, else ``default`` (no open redirect).

    Refused: absolute URLs, scheme-relative ``//host`` and ``/\\host`` (browsers
    treat a backslash as a slash), anything with control characters.
    """
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    if any(ord(ch) < 0x20 or ch == "\\" for ch in target):
        return default
    return target


# Ids are 32-bit integer columns: a path segment naming a negative or larger
# number names nothing, and passing it on would overflow the database driver (SQLite takes
# at most 2^63 - 1, PostgreSQL's integer 2^31 - 1) into a 500.
MAX_ID: Final = 2**31 - 1
_ID_SEGMENT = re.compile(r"^([+-]?[0-9]+)(\.[A-Za-z0-9]+)?$")
# Percent-decoded request targets may not carry NUL or other C0 controls: no
# route wants them, and PostgreSQL text cannot hold a NUL at all.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


# Multipart framing around an uploaded file: headers, boundaries, the CSRF field.
FORM_OVERHEAD: Final = 64 * 1024


class BodyTooLarge(HTTPException):
    """A request body went over its limit; answered 413 by the app's HTTP error handler."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body is larger than {limit} bytes.")
        self.limit = limit


async def read_limited(request: Request, limit: int) -> bytes:
    """The request body, read in chunks; raises BodyTooLarge as soon as it passes ``limit``.

    A declared Content-Length over the limit is refused before reading; a
    chunked body is refused at the first chunk beyond it, so memory never
    holds more than ``limit`` plus one chunk.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _refusal(path: str, raw_query: bytes) -> tuple[int, str] | None:
    """``(status, message)`` when the request target is refused before any route runs."""
    query = unquote_plus(raw_query.decode("latin-1"))
    if _CONTROL.search(path) or _CONTROL.search(query):
        return 400, "The address contains control characters (such as NUL)."
    for segment in path.split("/"):
        found = _ID_SEGMENT.match(segment)
        if found and (len(found.group(1)) > 11 or not 0 <= int(found.group(1)) <= MAX_ID):
            return 404, "Not found."
    return None


class SecurityHeadersMiddleware:
    """Adds security headers to every response that does not set its own, and screens targets.

    It wraps the whole application, outside Starlette's error middleware, so
    500 pages get the headers too.  It also caps every request body at
    ``max_body`` bytes (413 as soon as a body passes it, chunked or not).
    Before any route runs it answers 400 to a path or query with control
    characters (NUL …) and 404 to a numeric path segment beyond
    :data:`MAX_ID`, which no row can have.

    A route that serves rendered email sets ``Content-Security-Policy`` itself
    (:data:`EMAIL_CSP`); everything else gets :data:`PAGE_CSP`.  Referrer-Policy
    is ``no-referrer`` because page URLs carry tokens that must not leak to
    other sites through the Referer header.
    """

    def __init__(self, app: ASGIApp, *, hsts: bool, max_body: int | None = None) -> None:
        self.app = app
        self.hsts = hsts
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: list[tuple[bytes, bytes]] = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                defaults = {
                    b"content-security-policy": PAGE_CSP.encode(),
                    b"x-content-type-options": b"nosniff",
                    b"x-frame-options": b"SAMEORIGIN",
                    b"referrer-policy": b"no-referrer",
                    b"permissions-policy": b"camera=(), microphone=(), geolocation=()",
                    b"cross-origin-opener-policy": b"same-origin",
                }
                if self.hsts:
                    defaults[b"strict-transport-security"] = b"max-age=31536000"
                if scope.get("path", "").startswith("/api/"):
                    # API answers carry subscribers' data: no cache keeps a copy
                    # unless a route says otherwise.
                    defaults[b"cache-control"] = b"no-store"
                for name, value in defaults.items():
                    if name not in present:
                        headers.append((name, value))
                message["headers"] = headers
            await send(message)

        refused = _refusal(scope.get("path", ""), scope.get("query_string", b""))
        if refused is not None:
            status, text = refused
            if scope.get("path", "").startswith("/api/"):
                response: Response = JSONResponse({"detail": text}, status_code=status)
            else:
                response = PlainTextResponse(text, status_code=status)
            await response(scope, receive, send_with_headers)
            return
        await self.app(scope, self._limited(scope, receive), send_with_headers)

    def _limited(self, scope: Scope, receive: Receive) -> Receive:
        """``receive`` that raises BodyTooLarge past ``max_body`` (inside the app's handlers)."""
        limit = self.max_body
        if limit is None:
            return receive
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        return limited
