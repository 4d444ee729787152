"""Organisers: console users with argon2 passwords and per-organiser API tokens.

Passwords are hashed with argon2id (``argon2-cffi`` defaults, RFC 9106's
recommended second option); only the hash is stored.  API tokens are 256-bit
random strings shown once; only their SHA-256 is stored, so a leaked database
yields no usable token (a fast hash suffices: the token has full entropy, no
dictionary to guess from).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from functools import cache
from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.errors import UserError
from newsletter.models import ApiToken, Organiser, utcnow
from newsletter.subscribers import SubscriberError, normalise_email

MIN_PASSWORD_LENGTH: Final = 10
TOKEN_PREFIX: Final = "nlt_"  # noqa: S105 (a public prefix that marks our tokens in logs)

_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Verified against when the address is unknown, so a login attempt takes the
    same time whether or not the organiser exists (no account enumeration by timing).
    Made on first use: hashing is deliberately slow and every CLI start would pay it."""
    return _hasher.hash("not-a-real-password-just-for-timing")


class OrganiserError(UserError, ValueError):
    """An organiser that cannot be created or found, or a password that is refused."""


def _key(email: str) -> str:
    try:
        address, key = normalise_email(email)
    except SubscriberError as exc:
        raise OrganiserError(exc.reason) from exc
    del address
    return key


def check_password(password: str) -> None:
    """Raise OrganiserError when ``password`` is too short to be a console password."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise OrganiserError(f"password must have at least {MIN_PASSWORD_LENGTH} characters")


def find_organiser(session: Session, email: str) -> Organiser | None:
    """The organiser with ``email`` (any case), or None; raises OrganiserError for a bad address."""
    key = _key(email)
    return session.scalars(select(Organiser).where(Organiser.email == key)).first()


def create_organiser(session: Session, email: str, password: str) -> Organiser:
    """Create an organiser; raises OrganiserError for a bad address, short password or duplicate.

    The address is stored lower-cased, so logins are case-insensitive.
    """
    key = _key(email)
    check_password(password)
    if find_organiser(session, key) is not None:
        raise OrganiserError(f"organiser {key} already exists")
    organiser = Organiser(email=key, password_hash=_hasher.hash(password))
    session.add(organiser)
    session.flush()
    return organiser


def set_password(session: Session, organiser: Organiser, password: str) -> None:
    """Replace the organiser's password; raises OrganiserError when it is too short."""
    check_password(password)
    organiser.password_hash = _hasher.hash(password)
    session.flush()


def authenticate(session: Session, email: str, password: str) -> Organiser | None:
    """The organiser if ``password`` is theirs, else None (also for unknown or malformed addresses).

    A hash made with weaker parameters than today's is upgraded on success.
    """
    try:
        organiser = find_organiser(session, email)
    except OrganiserError:
        organiser = None
    stored = organiser.password_hash if organiser is not None else _dummy_hash()
    try:
        _hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if organiser is None:
        return None
    if _hasher.check_needs_rehash(organiser.password_hash):
        organiser.password_hash = _hasher.hash(password)
    return organiser


def password_fingerprint(organiser: Organiser) -> str:
    """A short digest of the password hash: sessions carry it, so a password change ends them."""
    return hashlib.sha256(organiser.password_hash.encode("utf-8")).hexdigest()[:16]


def token_hash(token: str) -> str:
    """The SHA-256 hex digest under which a token is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_token(session: Session, organiser: Organiser) -> str:
    """Create a new API token for ``organiser`` and return it; it is never shown again."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(organiser_id=organiser.id, token_hash=token_hash(token)))
    session.flush()
    return token


def organiser_for_token(session: Session, token: str) -> Organiser | None:
    """The organiser owning bearer ``token``, or None; records when the token was last used."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    digest = token_hash(token)
    row = session.scalars(select(ApiToken).where(ApiToken.token_hash == digest)).first()
    # The lookup is by digest (an index), and the digest of a guess reveals nothing
    # about stored ones; the compare is belt and braces against a collation surprise.
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        return None
    row.last_used_at = utcnow()
    return session.get(Organiser, row.organiser_id)


def revoke_tokens(session: Session, organiser: Organiser) -> int:
    """Delete every API token of ``organiser``; returns how many there were."""
    rows = list(session.scalars(select(ApiToken).where(ApiToken.organiser_id == organiser.id)))
    for row in rows:
        session.delete(row)
    return len(rows)
