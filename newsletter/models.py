"""The store's tables (SQLAlchemy 2 declarative models).

Every timestamp is timezone-aware UTC.  Schema changes go through Alembic
migrations in ``newsletter/migrations``; ``newsletter init`` applies them.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, WriteOnlyMapped, mapped_column, relationship

SUBSCRIBER_STATUSES = ("pending", "active", "unsubscribed", "bounced", "complained")


class SendStatus(enum.StrEnum):
    """Where a send stands; the legal moves between them are in ``newsletter.sends``."""

    DRAFT = "draft"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    PAUSED = "paused"
    CANCELLED = "cancelled"
    FINISHED = "finished"


class DeliveryStatus(enum.StrEnum):
    """Where one delivery stands; the legal moves are in ``newsletter.deliveries``."""

    PENDING = "pending"
    CLAIMED = "claimed"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"


SEND_STATUSES = tuple(str(s) for s in SendStatus)
DELIVERY_STATUSES = tuple(str(s) for s in DeliveryStatus)
SEND_KINDS = ("newsletter", "invitation", "event_update", "event_cancel", "reminder")


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def column_width(table: Any, column: str) -> int | None:
    """The most characters ``table``'s ``column`` holds (a ``String(n)``), None if unbounded.

    PostgreSQL refuses a longer value and SQLite would keep it, so inputs are
    checked against this before they are stored.
    """
    length = getattr(table.c[column].type, "length", None)
    return length if isinstance(length, int) else None


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and always read back timezone-aware.

    SQLite has no time zone type and returns naive values; PostgreSQL's
    ``timestamptz`` returns aware ones.  This makes both behave the same.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _in(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"


class Base(DeclarativeBase):
    """Declarative base of every table."""

    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime,
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


class Subscriber(Base):
    """A person on the list.  ``email_key`` (lower-cased address) is unique."""

    __tablename__ = "subscribers"
    __table_args__ = (CheckConstraint(_in("status", SUBSCRIBER_STATUSES), name="ck_status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    email_key: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    organisation: Mapped[str] = mapped_column(String(200), default="", index=True)
    region: Mapped[str] = mapped_column(String(200), default="", index=True)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    reminders_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    status_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(default=None)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(default=None)
    consent_source: Mapped[str | None] = mapped_column(String(200), default=None)
    consent_at: Mapped[datetime | None] = mapped_column(default=None)
    consent_ip: Mapped[str | None] = mapped_column(String(64), default=None)

    roles: Mapped[list[SubscriberRole]] = relationship(
        back_populates="subscriber",
        cascade="all, delete-orphan",
        order_by="SubscriberRole.role",
        lazy="selectin",
    )

    # Every status change, oldest first; written, never loaded with the subscriber.
    history: WriteOnlyMapped[StatusChange] = relationship(
        back_populates="subscriber",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="StatusChange.id",
    )

    @property
    def role_names(self) -> list[str]:
        """The subscriber's role slugs, sorted."""
        return sorted(r.role for r in self.roles)


class SubscriberRole(Base):
    """One role of a subscriber, as a slug (``dcs``, ``lead-member``, …)."""

    __tablename__ = "subscriber_roles"

    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(100), primary_key=True, index=True)
    subscriber: Mapped[Subscriber] = relationship(back_populates="roles")


class StatusChange(Base):
    """One change of a subscriber's status: when, to what, from where, with what consent.

    ``source`` says who or what made the change ("subscribe form", "console:
    ann@example.org", "import: members.csv", "bounce", …).  ``consent_source``
    and ``consent_ip`` are set when the change came with consent (a
    confirmation, a resubscription).  ``send_id`` names the send whose
    unsubscribe link was used, when one was.
    """

    __tablename__ = "subscriber_status_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(16))
    previous: Mapped[str | None] = mapped_column(String(16), default=None)
    source: Mapped[str] = mapped_column(String(200), default="")
    consent_source: Mapped[str | None] = mapped_column(String(200), default=None)
    consent_ip: Mapped[str | None] = mapped_column(String(64), default=None)
    send_id: Mapped[int | None] = mapped_column(Integer, default=None, index=True)

    subscriber: Mapped[Subscriber] = relationship(back_populates="history")


class Segment(Base):
    """A named audience rule (see ``newsletter.segments``)."""

    __tablename__ = "segments"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    rule: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, default="")
    # How the segment is named to people ("North East leaders"); empty: made from ``name``.
    label: Mapped[str] = mapped_column(String(200), default="")
    builtin: Mapped[bool] = mapped_column(Boolean, default=False)
    # Listed on /calendar and served as a feed: built-in role segments are,
    # ad-hoc ones (a one-person test segment) are not unless an organiser says so.
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class UpdateRecord(Base):
    """An ingested update; ``content`` holds sections, tags and contacts as JSON.

    The period is a range of months: ``period`` (first) to ``period_end``
    (last), shown as ``period_label``.  Organiser corrections change these
    fields in place and are listed in ``corrections``.
    """

    __tablename__ = "updates"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    region: Mapped[str | None] = mapped_column(String(200), default=None)
    period: Mapped[str | None] = mapped_column(String(7), default=None)
    period_end: Mapped[str | None] = mapped_column(String(7), default=None)
    period_label: Mapped[str | None] = mapped_column(String(100), default=None)
    source_name: Mapped[str] = mapped_column(String(500), default="")
    source_format: Mapped[str] = mapped_column(String(20), default="text")
    content: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    events: Mapped[list[EventRecord]] = relationship(
        back_populates="update",
        cascade="all, delete-orphan",
        order_by="EventRecord.id",
        lazy="selectin",
    )
    corrections: Mapped[list[UpdateCorrection]] = relationship(
        back_populates="update",
        cascade="all, delete-orphan",
        order_by="UpdateCorrection.id",
    )


class UpdateCorrection(Base):
    """One organiser correction of what ingest understood: the update's history.

    ``field`` names what changed ("title", "region", "period", "section 2
    audiences"); ``before`` and ``after`` are the values as shown.
    """

    __tablename__ = "update_corrections"

    id: Mapped[int] = mapped_column(primary_key=True)
    update_id: Mapped[int] = mapped_column(ForeignKey("updates.id", ondelete="CASCADE"), index=True)
    field: Mapped[str] = mapped_column(String(100))
    before: Mapped[str] = mapped_column(Text, default="")
    after: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(320), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    update: Mapped[UpdateRecord] = relationship(back_populates="corrections")


class EventRecord(Base):
    """An event of an update.  ``uid`` never changes; ``sequence`` rises per sent change."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(primary_key=True)
    update_id: Mapped[int] = mapped_column(ForeignKey("updates.id", ondelete="CASCADE"))
    uid: Mapped[str] = mapped_column(String(200), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    start: Mapped[datetime] = mapped_column()
    end: Mapped[datetime | None] = mapped_column(default=None)
    all_day: Mapped[bool] = mapped_column(Boolean, default=False)
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/London")
    location: Mapped[str | None] = mapped_column(String(300), default=None)
    featured: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str] = mapped_column(Text, default="")
    url: Mapped[str | None] = mapped_column(String(1000), default=None)
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    cancelled: Mapped[bool] = mapped_column(Boolean, default=False)
    # Set when ingest made the title up (a featured event printed without
    # one); cleared when an organiser sets a title.
    needs_title: Mapped[bool] = mapped_column(Boolean, default=False)
    # Minutes before the start at which reminders go out (default 7 days, 1 day).
    reminder_offsets: Mapped[list[Any]] = mapped_column(default=lambda: [10080, 1440])
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    update: Mapped[UpdateRecord] = relationship(back_populates="events")


class Send(Base):
    """One send of an update (or of an event notice) to one or more segments."""

    __tablename__ = "sends"
    __table_args__ = (
        CheckConstraint(_in("status", SEND_STATUSES), name="ck_send_status"),
        CheckConstraint(_in("kind", SEND_KINDS), name="ck_send_kind"),
        # A reminder goes once per (event, offset): the second one cannot be created.
        UniqueConstraint("event_id", "kind", "reminder_offset", name="uq_send_reminder"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), default="newsletter")
    update_id: Mapped[int | None] = mapped_column(
        ForeignKey("updates.id", ondelete="RESTRICT"), default=None
    )
    event_id: Mapped[int | None] = mapped_column(
        ForeignKey("events.id", ondelete="RESTRICT"), default=None
    )
    reminder_offset: Mapped[int | None] = mapped_column(Integer, default=None)
    segments: Mapped[list[Any]] = mapped_column(default=list)
    subject: Mapped[str | None] = mapped_column(String(300), default=None)
    # An event notice's message from the organiser, shown in the notice.
    message: Mapped[str | None] = mapped_column(Text, default=None)
    status: Mapped[str] = mapped_column(String(16), default="draft", index=True)
    status_reason: Mapped[str | None] = mapped_column(Text, default=None)
    scheduled_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    planned: Mapped[int] = mapped_column(Integer, default=0)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    test_to: Mapped[str | None] = mapped_column(String(320), default=None)
    created_by: Mapped[str | None] = mapped_column(String(320), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SendEdition(Base):
    """A send's message for one segment, rendered once (Jinja2 + premailer) at planning.

    Workers build the MIME template from this row and splice each recipient
    in, so rendering cost depends on segments, never on recipients.
    ``calendar`` lists the attached calendars as ``{method, filename, ics}``.
    """

    __tablename__ = "send_editions"

    send_id: Mapped[int] = mapped_column(
        ForeignKey("sends.id", ondelete="CASCADE"), primary_key=True
    )
    segment: Mapped[str] = mapped_column(String(100), primary_key=True)
    segment_name: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(300))
    preheader: Mapped[str] = mapped_column(Text, default="")
    html: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    calendar: Mapped[list[Any]] = mapped_column(default=list)
    event_ids: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Delivery(Base):
    """One email to one subscriber within a send: it exists before it is sent.

    ``subscriber_id`` becomes NULL when the subscriber is erased: the row stays,
    without personal data, so the send's counts remain true.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("send_id", "subscriber_id", name="uq_delivery_recipient"),
        CheckConstraint(_in("status", DELIVERY_STATUSES), name="ck_delivery_status"),
        Index("ix_delivery_send_status_id", "send_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    send_id: Mapped[int] = mapped_column(ForeignKey("sends.id", ondelete="CASCADE"))
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscribers.id", ondelete="SET NULL")
    )
    segment: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
    claimed_at: Mapped[datetime | None] = mapped_column(default=None)
    # The task that claimed the row: a task redelivered after its worker died
    # (acks_late) has the same id and takes its own rows back, once the dead
    # run's lease has lapsed (newsletter.dispatch.leases).
    claimed_by: Mapped[str | None] = mapped_column(String(64), default=None)
    # When a task for this row was last enqueued: recovery re-enqueues rows
    # whose task was lost (a broker restart) only after a quiet period.
    enqueued_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    message_id: Mapped[str | None] = mapped_column(String(300), default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)


class EventRecipient(Base):
    """Who has an event in their calendar: updates and cancellations go to them only."""

    __tablename__ = "event_recipients"

    event_id: Mapped[int] = mapped_column(
        ForeignKey("events.id", ondelete="CASCADE"), primary_key=True
    )
    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True
    )
    first_delivery_id: Mapped[int | None] = mapped_column(Integer, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


REPLY_STATUSES = ("accepted", "tentative", "declined")


class EventReply(Base):
    """An attendee's latest iTIP REPLY to an event (see ``newsletter.events.replies``).

    One row per (event, subscriber); a later reply (by its DTSTAMP) replaces an
    earlier one, as RFC 5546 §2.1.5 has the organiser keep the latest.
    """

    __tablename__ = "event_replies"
    __table_args__ = (CheckConstraint(_in("status", REPLY_STATUSES), name="ck_reply_status"),)

    event_id: Mapped[int] = mapped_column(
        ForeignKey("events.id", ondelete="CASCADE"), primary_key=True
    )
    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True
    )
    status: Mapped[str] = mapped_column(String(16))
    # DTSTAMP of the reply: when the attendee answered (orders replies).
    replied_at: Mapped[datetime] = mapped_column()
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    comment: Mapped[str] = mapped_column(Text, default="")
    client: Mapped[str] = mapped_column(String(300), default="")


class Suppression(Base):
    """An address never to send to, whatever segment it is in."""

    __tablename__ = "suppressions"

    id: Mapped[int] = mapped_column(primary_key=True)
    email_key: Mapped[str] = mapped_column(String(320), unique=True)
    reason: Mapped[str] = mapped_column(String(50))
    detail: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Organiser(Base):
    """A console user; ``password_hash`` is argon2."""

    __tablename__ = "organisers"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Console sessions carry this number; raising it (sign-out, password change,
    # disabling) ends every session issued before, wherever its cookie is kept.
    session_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    disabled_at: Mapped[datetime | None] = mapped_column(default=None)


class ApiToken(Base):
    """A bearer token of an organiser; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    organiser_id: Mapped[int] = mapped_column(ForeignKey("organisers.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


IMPORT_STATUSES = ("queued", "running", "finished", "failed")


class ImportJob(Base):
    """A subscriber CSV import too big to run inside a web request, with its progress."""

    __tablename__ = "import_jobs"
    __table_args__ = (CheckConstraint(_in("status", IMPORT_STATUSES), name="ck_import_status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(300))
    created_by: Mapped[str | None] = mapped_column(String(320), default=None)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    pending: Mapped[bool] = mapped_column(Boolean, default=False)
    data: Mapped[str | None] = mapped_column(Text, default=None)
    total_rows: Mapped[int] = mapped_column(Integer, default=0)
    done_rows: Mapped[int] = mapped_column(Integer, default=0)
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
