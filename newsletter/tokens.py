"""Signed, purpose-bound, expiring tokens for the links in every email.

A token names a subscriber by id (never by email address, so no address
appears in clear in a URL or in web server logs), the purpose it was issued
for, an optional extra integer (the send id of an unsubscribe link, so the
unsubscribe can be attributed to the email it came from) and an expiry time.

Wire format, before URL-safe base64 without padding (RFC 4648 section 5)::

    version (1) | purpose code (1) | expires, unix seconds (4) |
    subject id (8) | [extra (8)] | HMAC-SHA256 tag, truncated (16)

That is 40 characters without ``extra`` and 51 with it.  The HMAC covers a
domain-separation prefix, the purpose *name* and every payload byte, so a
token cannot be replayed for another purpose even if the code table changed.
A 128-bit tag is the truncation RFC 2104 section 5 allows (at least half the
hash output) and is far beyond online guessing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Final

from newsletter.config import Settings, get_settings
from newsletter.errors import NewsletterError

__all__ = [
    "CONFIRM",
    "PREFERENCES",
    "TTL",
    "UNSUBSCRIBE",
    "TokenError",
    "TokenExpired",
    "TokenInvalid",
    "TokenPayload",
    "confirm_url",
    "mailto_unsubscribe",
    "make_token",
    "preferences_url",
    "read_token",
    "status_stamp",
    "unsubscribe_links",
    "unsubscribe_token",
    "unsubscribe_url",
]

UNSUBSCRIBE: Final = "unsubscribe"
PREFERENCES: Final = "preferences"
CONFIRM: Final = "confirm"

TTL: Final[dict[str, timedelta]] = {
    # Unsubscribe links must keep working from old emails: people unsubscribe
    # from a message they kept for months, and RFC 8058 one-click requests may
    # come from a mail client acting on an archived message long after the send.
    # A dead unsubscribe link drives people to the spam button, which hurts the
    # whole list's deliverability.  Yet links leak (forwards, archives), so they
    # should not live for ever: 180 days outlives any newsletter's shelf life.
    UNSUBSCRIBE: timedelta(days=180),
    # Preferences pages reveal and change settings: a month is enough.
    PREFERENCES: timedelta(days=30),
    # Double opt-in confirmation should follow the sign-up promptly.
    CONFIRM: timedelta(hours=48),
}

# One byte per purpose in the payload, so the token can say which purpose it
# was issued for.  Never reuse or renumber a code: old tokens would change meaning.
_PURPOSE_CODES: Final[dict[str, int]] = {UNSUBSCRIBE: 1, PREFERENCES: 2, CONFIRM: 3}
_PURPOSE_NAMES: Final[dict[int, str]] = {code: name for name, code in _PURPOSE_CODES.items()}

_VERSION: Final = 1
_HEAD = struct.Struct(">BBIQ")  # version, purpose code, expires (unix s), subject id
_EXTRA = struct.Struct(">Q")
_TAG_BYTES: Final = 16
_DOMAIN: Final = b"newsletter.tokens.v1\x00"
_MAX_U64: Final = 2**64 - 1
_MAX_U32: Final = 2**32 - 1


class TokenError(NewsletterError):
    """A token could not be accepted; ``str(error)`` says why, fit to log."""


class TokenInvalid(TokenError):  # noqa: N818 (reads as what the token is)
    """The token is malformed, tampered with, signed with another key, or for another purpose."""


class TokenExpired(TokenError):  # noqa: N818 (reads as what the token is)
    """The token was genuine but its time has passed.

    ``payload`` is the verified content, so a page can offer to send a fresh link.
    """

    def __init__(self, message: str, payload: TokenPayload) -> None:
        super().__init__(message)
        self.payload = payload


@dataclass(frozen=True, slots=True)
class TokenPayload:
    """The verified content of a token."""

    purpose: str
    subject_id: int
    extra: int | None
    expires_at: datetime


def _now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now


@lru_cache(maxsize=8)
def _keyed(secret: str) -> hmac.HMAC:
    # Keying HMAC hashes the key pads; copying a keyed object skips that per token.
    return hmac.new(secret.encode("utf-8"), _DOMAIN, hashlib.sha256)


def _tag(secret: str, purpose: str, body: bytes) -> bytes:
    mac = _keyed(secret).copy()
    mac.update(purpose.encode("ascii") + b"\x00" + body)
    return mac.digest()[:_TAG_BYTES]


def _secret(secret: str | None) -> str:
    key = get_settings().secret_key if secret is None else secret
    if not key:
        raise ValueError(
            "no secret key to sign links with: set NEWSLETTER_SECRET_KEY or run `newsletter init`"
        )
    return key


def _keys(secret: str | Sequence[str] | None) -> tuple[str, ...]:
    """The keys a token may be signed with: the current one first, then former ones."""
    if secret is None:
        keys = get_settings().verification_keys
    elif isinstance(secret, str):
        keys = (secret,)
    else:
        keys = tuple(k for k in secret if k)
    if not keys:
        raise ValueError("no secret key to verify links with: set NEWSLETTER_SECRET_KEY")
    return keys


def _check_purpose(purpose: str) -> int:
    try:
        return _PURPOSE_CODES[purpose]
    except KeyError:
        known = ", ".join(sorted(_PURPOSE_CODES))
        raise ValueError(f"unknown token purpose {purpose!r} (known: {known})") from None


def make_token(
    purpose: str,
    subject_id: int,
    *,
    ttl: timedelta,
    extra: int | None = None,
    secret: str | None = None,
    now: datetime | None = None,
) -> str:
    """Return a URL-safe token binding ``subject_id`` (and ``extra``) to ``purpose``.

    The token expires ``ttl`` after ``now`` (default: the current UTC time),
    rounded down to the second.  ``secret`` defaults to ``settings.secret_key``.

    Raises ValueError for an unknown purpose, a negative or over-large id, a
    non-positive ttl or a naive ``now``.
    """
    code = _check_purpose(purpose)
    if not 0 <= subject_id <= _MAX_U64:
        raise ValueError(f"subject id out of range: {subject_id}")
    if extra is not None and not 0 <= extra <= _MAX_U64:
        raise ValueError(f"extra out of range: {extra}")
    if ttl <= timedelta(0):
        raise ValueError("ttl must be positive")
    expires = int((_now(now) + ttl).timestamp())
    if expires > _MAX_U32:
        raise ValueError("expiry beyond 2106 cannot be encoded")
    body = _HEAD.pack(_VERSION, code, expires, subject_id)
    if extra is not None:
        body += _EXTRA.pack(extra)
    raw = body + _tag(_secret(secret), purpose, body)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def read_token(
    token: str,
    purpose: str,
    *,
    secret: str | Sequence[str] | None = None,
    now: datetime | None = None,
) -> TokenPayload:
    """Verify ``token`` for ``purpose`` and return its payload.

    ``secret`` is one key or several (the current key, then the previous ones
    still accepted during a key rotation); it defaults to
    ``settings.verification_keys``.

    Raises TokenInvalid when the token is malformed, its signature does not
    match (tampered, or signed with another secret) or it was issued for
    another purpose; raises TokenExpired when it is genuine but expired.
    The signature is compared in constant time (``hmac.compare_digest``).
    """
    _check_purpose(purpose)
    if not isinstance(token, str) or not token.isascii():
        raise TokenInvalid("token is not ASCII text")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise TokenInvalid("token is not valid URL-safe base64") from None
    if len(raw) not in (_HEAD.size + _TAG_BYTES, _HEAD.size + _EXTRA.size + _TAG_BYTES):
        raise TokenInvalid(f"token has the wrong length ({len(raw)} bytes)")
    body, tag = raw[:-_TAG_BYTES], raw[-_TAG_BYTES:]
    version, code, expires, subject_id = _HEAD.unpack_from(body)
    issued_for = _PURPOSE_NAMES.get(code)
    if version != _VERSION or issued_for is None:
        raise TokenInvalid("token has an unknown version or purpose code")
    # Verify against the purpose the token claims, then compare purposes, so a
    # genuine token used on the wrong page gets an error that says so.
    genuine = False
    for key in _keys(secret):
        # Every key is tried (no early exit), so timing does not tell which one matched.
        genuine = hmac.compare_digest(tag, _tag(key, issued_for, body)) | genuine
    if not genuine:
        raise TokenInvalid("token signature does not match (tampered or signed with another key)")
    if issued_for != purpose:
        raise TokenInvalid(f"token was issued for {issued_for!r}, not {purpose!r}")
    extra = _EXTRA.unpack_from(body, _HEAD.size)[0] if len(body) > _HEAD.size else None
    payload = TokenPayload(
        purpose=purpose,
        subject_id=subject_id,
        extra=extra,
        expires_at=datetime.fromtimestamp(expires, UTC),
    )
    if _now(now) >= payload.expires_at:
        raise TokenExpired(f"{purpose} token expired at {payload.expires_at.isoformat()}", payload)
    return payload


def _base(settings: Settings | None) -> str:
    return (settings or get_settings()).base_url.rstrip("/")


def unsubscribe_token(
    subscriber_id: int, send_id: int | None = None, *, settings: Settings | None = None
) -> str:
    """Return an unsubscribe token for the subscriber, naming the send when known."""
    s = settings or get_settings()
    return make_token(
        UNSUBSCRIBE, subscriber_id, ttl=TTL[UNSUBSCRIBE], extra=send_id, secret=s.secret_key
    )


def unsubscribe_url(
    subscriber_id: int, send_id: int | None = None, *, settings: Settings | None = None
) -> str:
    """Return ``{base_url}/u/{token}``: the one-click unsubscribe page and RFC 8058 target."""
    token = unsubscribe_token(subscriber_id, send_id, settings=settings)
    return f"{_base(settings)}/u/{token}"


def mailto_unsubscribe(
    subscriber_id: int, send_id: int | None = None, *, settings: Settings | None = None
) -> str:
    """Return the RFC 2369 mailto unsubscribe URL carrying a token in its subject."""
    return unsubscribe_links(subscriber_id, send_id, settings=settings)[1]


def unsubscribe_links(
    subscriber_id: int, send_id: int | None = None, *, settings: Settings | None = None
) -> tuple[str, str]:
    """Return ``(https_url, mailto_url)`` for List-Unsubscribe, sharing one token."""
    s = settings or get_settings()
    token = unsubscribe_token(subscriber_id, send_id, settings=s)
    # RFC 6068: the subject is percent-encoded.  The token's URL-safe base64
    # alphabet is all unreserved characters, so only the space needs escaping.
    subject = f"unsubscribe%20{token}"
    return f"{_base(s)}/u/{token}", f"mailto:unsubscribe@{s.sending_domain}?subject={subject}"


def preferences_url(subscriber_id: int, *, settings: Settings | None = None) -> str:
    """Return ``{base_url}/preferences/{token}`` (valid for 30 days)."""
    s = settings or get_settings()
    token = make_token(PREFERENCES, subscriber_id, ttl=TTL[PREFERENCES], secret=s.secret_key)
    return f"{_base(s)}/preferences/{token}"


def status_stamp(changed_at: datetime) -> int:
    """The microsecond timestamp a confirmation token binds: the subscriber's last status change.

    A confirmation link is valid only while the subscriber's status is the
    one it was issued for: confirming, unsubscribing, bouncing or complaining
    moves ``status_changed_at`` and so voids every link issued before
    (single use, and no reactivation of someone who left since).
    """
    return int(changed_at.timestamp() * 1_000_000)


def confirm_url(subscriber_id: int, stamp: int, *, settings: Settings | None = None) -> str:
    """Return ``{base_url}/confirm/{token}`` for double opt-in (valid for 48 hours).

    ``stamp`` is :func:`status_stamp` of the subscriber's ``status_changed_at``.
    """
    s = settings or get_settings()
    token = make_token(CONFIRM, subscriber_id, ttl=TTL[CONFIRM], extra=stamp, secret=s.secret_key)
    return f"{_base(s)}/confirm/{token}"
