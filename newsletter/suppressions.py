"""The suppression list: addresses never to send to, whatever segment they are in.

Entries come from hard bounces, repeated soft bounces, complaints and SMTP
refusals (see ``newsletter.bounces`` and the dispatch engine), or from an
organiser.  The dispatch engine skips a suppressed address at send time, so
adding an entry takes effect for deliveries not yet sent.  Removing one does
not resubscribe anyone: the subscriber keeps their status (bounced,
complained) until they re-confirm or an organiser changes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, select
from sqlalchemy.orm import Session

from newsletter.db import insert_ignore
from newsletter.errors import UserError
from newsletter.models import Suppression, utcnow
from newsletter.subscribers import mark_bounced, normalise_email

__all__ = [
    "SuppressionEntry",
    "add_suppression",
    "is_suppressed",
    "list_suppressions",
    "remove_suppression",
    "remove_suppression_by_id",
    "suppress_address",
]


class SuppressionError(UserError, ValueError):
    """A suppression that cannot be recorded as asked."""


@dataclass(frozen=True, slots=True)
class SuppressionEntry:
    """One suppressed address with why and when; ``id`` names it in the web app."""

    id: int
    email: str
    reason: str
    detail: str
    created_at: datetime

    def to_json(self) -> dict[str, str | int]:
        """The entry as the CLI and API print it."""
        return {
            "id": self.id,
            "email": self.email,
            "reason": self.reason,
            "detail": self.detail,
            "created_at": self.created_at.isoformat(),
        }


def _entry(row: Suppression) -> SuppressionEntry:
    return SuppressionEntry(row.id, row.email_key, row.reason, row.detail, row.created_at)


def suppress_address(session: Session | Connection, email: str, reason: str, detail: str) -> None:
    """Never send to ``email`` again; its subscriber (if active) becomes ``bounced``.

    For the engine's 5xx refusals and the bounce intake.  An address already
    suppressed keeps its first reason and date.
    """
    key = email.lower()
    insert_ignore(
        session,
        Suppression,
        [{"email_key": key, "reason": reason, "detail": detail[:2000], "created_at": utcnow()}],
    )
    mark_bounced(session, key, source=f"suppressed ({reason})")


def list_suppressions(
    session: Session,
    *,
    reason: str | None = None,
    containing: str = "",
    limit: int | None = None,
) -> list[SuppressionEntry]:
    """Suppressed addresses, newest first, optionally only those with ``reason``
    or whose address contains ``containing`` (case-insensitive)."""
    query = select(Suppression).order_by(Suppression.created_at.desc(), Suppression.id.desc())
    if reason:
        query = query.where(Suppression.reason == reason)
    if containing.strip():
        text = containing.strip().lower()
        query = query.where(Suppression.email_key.contains(text, autoescape=True))
    if limit is not None:
        query = query.limit(limit)
    return [_entry(row) for row in session.scalars(query)]


def add_suppression(
    session: Session, email: str, reason: str = "manual", detail: str = ""
) -> tuple[SuppressionEntry, bool]:
    """Suppress ``email``; returns ``(entry, created)``.

    An address already suppressed keeps its first reason and date
    (``created`` is False).  Raises SubscriberError for an invalid address and
    ValueError for an empty reason.
    """
    _, key = normalise_email(email)
    reason = reason.strip()
    if not reason:
        raise SuppressionError("a suppression needs a reason")
    existing = session.scalar(select(Suppression).where(Suppression.email_key == key))
    if existing is None:
        insert_ignore(
            session,
            Suppression,
            [
                {
                    "email_key": key,
                    "reason": reason[:50],
                    "detail": detail[:2000],
                    "created_at": utcnow(),
                }
            ],
        )
    row = session.scalars(select(Suppression).where(Suppression.email_key == key)).one()
    return _entry(row), existing is None


def remove_suppression(session: Session, email: str) -> bool:
    """Lift the suppression of ``email``; False when it was not suppressed."""
    _, key = normalise_email(email)
    result = session.execute(
        delete(Suppression)
        .where(Suppression.email_key == key)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def remove_suppression_by_id(session: Session, suppression_id: int) -> bool:
    """Lift suppression ``suppression_id``; False when there is none."""
    row = session.get(Suppression, suppression_id)
    if row is None:
        return False
    session.delete(row)
    return True


def is_suppressed(session: Session, emails: Sequence[str]) -> set[str]:
    """The lower-cased addresses among ``emails`` that are suppressed."""
    keys = {e.strip().lower() for e in emails}
    if not keys:
        return set()
    found = session.scalars(select(Suppression.email_key).where(Suppression.email_key.in_(keys)))
    return set(found)
