"""Organisers: console users with argon2 passwords and per-organiser API tokens.

Passwords are hashed with argon2id (``argon2-cffi`` defaults, RFC 9106's
recommended second option); only the hash is stored.  API tokens are 256-bit
random strings shown once; only their SHA-256 is stored, so a leaked database
yields no usable token (a fast hash suffices: the token has full entropy, no
dictionary to guess from).  Tokens expire (:data:`DEFAULT_TOKEN_DAYS` unless
asked otherwise) and can be revoked one by one.

Console sessions are signed cookies carrying the organiser's
``session_version``; signing out, changing the password and disabling the
organiser raise it, which ends every session issued before on every device
(the cookie alone is not enough once the server says so).  A disabled
organiser can neither sign in nor use an API token until enabled again.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from newsletter.errors import NotFound, UserError
from newsletter.models import ApiToken, Organiser, utcnow
from newsletter.subscribers import SubscriberError, normalise_email

MIN_PASSWORD_LENGTH: Final = 10
TOKEN_PREFIX: Final = "nlt_"  # noqa: S105 (a public prefix that marks our tokens in logs)
# API tokens live 90 days unless issued otherwise (at most MAX_TOKEN_DAYS):
# long enough for a script's quarter, short enough that a forgotten token dies.
DEFAULT_TOKEN_DAYS: Final = 90
MAX_TOKEN_DAYS: Final = 366

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


def list_organisers(session: Session) -> list[Organiser]:
    """Every organiser, by address."""
    return list(session.scalars(select(Organiser).order_by(Organiser.email)))


def count_organisers(session: Session) -> int:
    """How many organisers there are (disabled ones included)."""
    return session.scalar(select(func.count()).select_from(Organiser)) or 0


@dataclass(frozen=True)
class OrganiserSummary:
    """One organiser as ``newsletter users list`` shows them."""

    email: str
    created_at: datetime
    disabled: bool
    live_tokens: int


def summaries(session: Session) -> list[OrganiserSummary]:
    """Every organiser by address, with the number of API tokens still usable."""
    live = (
        (ApiToken.organiser_id == Organiser.id)
        & ApiToken.revoked_at.is_(None)
        & (ApiToken.expires_at.is_(None) | (ApiToken.expires_at > utcnow()))
    )
    rows = session.execute(
        select(
            Organiser.email, Organiser.created_at, Organiser.disabled_at, func.count(ApiToken.id)
        )
        .outerjoin(ApiToken, live)
        .group_by(Organiser.id)
        .order_by(Organiser.email)
    ).all()
    return [
        OrganiserSummary(email, created, disabled_at is not None, int(tokens))
        for email, created, disabled_at, tokens in rows
    ]


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


def get_organiser(session: Session, email: str) -> Organiser:
    """The organiser with ``email``; raises NotFound (or OrganiserError for a bad address)."""
    organiser = find_organiser(session, email)
    if organiser is None:
        raise NotFound(f"no organiser {email}: create one with `newsletter users add {email}`")
    return organiser


def end_sessions(organiser: Organiser) -> None:
    """End every console session of ``organiser`` (the cookies stop being accepted)."""
    organiser.session_version = (organiser.session_version or 1) + 1


def set_password(session: Session, organiser: Organiser, password: str) -> None:
    """Replace the organiser's password; ends their sessions and revokes their API tokens.

    Raises OrganiserError when it is too short.  A changed password usually
    means the old one leaked, so nothing issued under it survives.
    """
    check_password(password)
    organiser.password_hash = _hasher.hash(password)
    end_sessions(organiser)
    revoke_tokens(session, organiser)
    session.flush()


def disable(session: Session, organiser: Organiser) -> None:
    """Stop ``organiser`` signing in or using API tokens; ends their sessions (idempotent)."""
    if organiser.disabled_at is None:
        organiser.disabled_at = utcnow()
    end_sessions(organiser)
    session.flush()


def enable(session: Session, organiser: Organiser) -> None:
    """Let a disabled organiser sign in again (their old sessions stay ended)."""
    organiser.disabled_at = None
    session.flush()


def remove(session: Session, organiser: Organiser) -> None:
    """Delete ``organiser`` and their API tokens; refuses to remove the last enabled one."""
    others = session.scalars(
        select(Organiser.id).where(Organiser.id != organiser.id, Organiser.disabled_at.is_(None))
    ).first()
    if others is None and organiser.disabled_at is None:
        raise OrganiserError(
            f"{organiser.email} is the only enabled organiser: add another before removing them"
        )
    session.delete(organiser)
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
    if organiser is None or organiser.disabled_at is not None:
        return None
    if _hasher.check_needs_rehash(organiser.password_hash):
        organiser.password_hash = _hasher.hash(password)
    return organiser


def token_hash(token: str) -> str:
    """The SHA-256 hex digest under which a token is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_token(
    session: Session,
    organiser: Organiser,
    *,
    name: str = "",
    days: int | None = DEFAULT_TOKEN_DAYS,
    now: datetime | None = None,
) -> str:
    """Create a new API token for ``organiser`` and return it; it is never shown again.

    It expires after ``days`` days (1 to :data:`MAX_TOKEN_DAYS`; None: never,
    for deliberate use only).  ``name`` says what it is for (a script, a
    machine) in listings.  Raises OrganiserError for a disabled organiser
    or days out of range.
    """
    if organiser.disabled_at is not None:
        raise OrganiserError(f"{organiser.email} is disabled: enable them first")
    if days is not None and not 1 <= days <= MAX_TOKEN_DAYS:
        raise OrganiserError(f"token lifetime must be 1 to {MAX_TOKEN_DAYS} days, not {days}")
    label = name.strip()
    if len(label) > 100 or any(ord(ch) < 0x20 for ch in label):
        raise OrganiserError("token name must be one line of at most 100 characters")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    issued = now or utcnow()
    expires = issued + timedelta(days=days) if days is not None else None
    session.add(
        ApiToken(
            organiser_id=organiser.id,
            token_hash=token_hash(token),
            name=label,
            created_at=issued,
            expires_at=expires,
        )
    )
    session.flush()
    return token


@dataclass(frozen=True)
class TokenInfo:
    """What may be shown about a token (never the token itself)."""

    id: int
    name: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    def state(self, now: datetime | None = None) -> str:
        """``active``, ``expired`` or ``revoked``."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= (now or utcnow()):
            return "expired"
        return "active"


def list_tokens(session: Session, organiser: Organiser) -> list[TokenInfo]:
    """The organiser's API tokens, newest first."""
    rows = session.scalars(
        select(ApiToken).where(ApiToken.organiser_id == organiser.id).order_by(ApiToken.id.desc())
    )
    return [
        TokenInfo(r.id, r.name, r.created_at, r.expires_at, r.last_used_at, r.revoked_at)
        for r in rows
    ]


def revoke_token(session: Session, organiser: Organiser, token_id: int) -> None:
    """Revoke one of the organiser's tokens; raises NotFound if they have no such token."""
    row = session.get(ApiToken, token_id) if 0 < token_id < 2**31 else None
    if row is None or row.organiser_id != organiser.id:
        raise NotFound(f"{organiser.email} has no API token {token_id}")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    session.flush()


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
    now = utcnow()
    if row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
        return None
    organiser = session.get(Organiser, row.organiser_id)
    if organiser is None or organiser.disabled_at is not None:
        return None
    row.last_used_at = now
    return organiser


def revoke_tokens(session: Session, organiser: Organiser) -> int:
    """Revoke every live API token of ``organiser``; returns how many were live."""
    rows = list(
        session.scalars(
            select(ApiToken).where(
                ApiToken.organiser_id == organiser.id, ApiToken.revoked_at.is_(None)
            )
        )
    )
    now = utcnow()
    for row in rows:
        row.revoked_at = now
    return len(rows)
