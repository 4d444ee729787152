"""Tables of the bounce intake (migration ``0003_bounces``).

``bounce_events`` records every classified report (hard, soft, complaint,
ignored): the soft-bounce rule counts rows of it, and the organiser can see
which send and delivery each report named.  ``bounce_set_aside`` keeps
messages the intake could not act on, with the reason, so a person can look
at them; nothing in it ever suppressed anyone.

Both are keyed by a digest of the message so that ingesting the same mailbox
twice changes nothing (intake is idempotent).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from newsletter.models import Base, utcnow

__all__ = ["BOUNCE_KINDS", "BounceEvent", "BounceSetAside"]

BOUNCE_KINDS = ("hard", "soft", "complaint", "ignored")


class BounceEvent(Base):
    """One report about one delivery: a hard or soft bounce, a complaint, or a success DSN.

    ``event_key`` is unique: SHA-256 of the raw report plus the delivery id, so
    a report ingested twice is recorded once.  ``delivery_id`` and ``send_id``
    are plain integers (no foreign key) so that the history outlives deleted
    sends and erased subscribers.
    """

    __tablename__ = "bounce_events"
    __table_args__ = (
        CheckConstraint("kind IN ('hard', 'soft', 'complaint', 'ignored')", name="ck_bounce_kind"),
        Index("ix_bounce_events_email_kind_created", "email_key", "kind", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_key: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    email_key: Mapped[str] = mapped_column(String(320))
    delivery_id: Mapped[int] = mapped_column(Integer, index=True)
    send_id: Mapped[int] = mapped_column(Integer, index=True)
    subscriber_id: Mapped[int | None] = mapped_column(Integer, default=None)
    status: Mapped[str] = mapped_column(String(16), default="")
    action: Mapped[str] = mapped_column(String(32), default="")
    diagnostic: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BounceSetAside(Base):
    """A message the intake kept aside unprocessed, with the reason (never acted on)."""

    __tablename__ = "bounce_set_aside"

    id: Mapped[int] = mapped_column(primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    reason: Mapped[str] = mapped_column(String(100))
    detail: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(500), default="")
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
