"""Web security: the signed session cookie, CSRF tokens, headers, rate limits, redirects.

The session is a cookie holding ``base64(json) . HMAC-SHA256`` signed with
``settings.secret_key`` (domain-separated from the email tokens), so the
server keeps no session table.  It carries the organiser id (or none for a
visitor), the password fingerprint (a password change ends every session),
the issue time (sessions end after :data:`SESSION_SECONDS`) and the CSRF
token that forms echo back (synchronizer token pattern, OWASP).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Final

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
    fingerprint: str | None = None

    @classmethod
    def fresh(cls, organiser_id: int | None = None, fingerprint: str | None = None) -> SessionData:
        """A new session with a new CSRF token (login rotates it: no session fixation)."""
        return cls(secrets.token_urlsafe(24), int(time.time()), organiser_id, fingerprint)


def _mac(secret: str, body: bytes) -> str:
    digest = hmac.new(secret.encode("utf-8"), _DOMAIN + body, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def sign_session(data: SessionData, secret: str) -> str:
    """The cookie value for ``data``."""
    payload: dict[str, Any] = {"c": data.csrf, "t": data.issued}
    if data.organiser_id is not None:
        payload["o"] = data.organiser_id
        payload["f"] = data.fingerprint
    body = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode())
    return body.rstrip(b"=").decode("ascii") + "." + _mac(secret, body.rstrip(b"="))


def read_session(value: str | None, secret: str, now: float | None = None) -> SessionData | None:
    """The session in cookie ``value``, or None when absent, tampered with, malformed or old."""
    if not value or "." not in value or len(value) > 1024:
        return None
    body, tag = value.rsplit(".", 1)
    if not hmac.compare_digest(tag, _mac(secret, body.encode("ascii", "replace"))):
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        csrf, issued = str(payload["c"]), int(payload["t"])
        organiser = payload.get("o")
        fingerprint = payload.get("f")
    except (binascii.Error, ValueError, KeyError, TypeError):
        return None
    if (now if now is not None else time.time()) - issued > SESSION_SECONDS:
        return None
    return SessionData(csrf, issued, int(organiser) if organiser is not None else None, fingerprint)


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


@dataclass
class RateLimiter:
    """At most ``limit`` hits per ``window`` seconds per key (sliding window, in memory).

    One process's memory: behind several web processes each enforces its own
    share, which is still a bound.  Keys are client addresses.
    """

    limit: int
    window: float
    _hits: dict[str, deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def hit(self, key: str, now: float | None = None) -> float | None:
        """Count a hit; returns None if allowed, else seconds until the next is allowed."""
        now = time.monotonic() if now is None else now
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return max(0.0, hits[0] + self.window - now)
            hits.append(now)
            if len(self._hits) > 10_000:  # forget idle clients; memory stays bounded
                for stale in [k for k, v in self._hits.items() if not v][:5000]:
                    del self._hits[stale]
            return None

    def reset(self) -> None:
        """Forget every hit (tests)."""
        with self._lock:
            self._hits.clear()


class SecurityHeadersMiddleware:
    """Adds security headers to every response that does not set its own.

    A route that serves rendered email sets ``Content-Security-Policy`` itself
    (:data:`EMAIL_CSP`); everything else gets :data:`PAGE_CSP`.  Referrer-Policy
    is ``no-referrer`` because page URLs carry tokens that must not leak to
    other sites through the Referer header.
    """

    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.hsts = hsts

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
                for name, value in defaults.items():
                    if name not in present:
                        headers.append((name, value))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
