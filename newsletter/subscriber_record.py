"""One subscriber's whole record, and what an organiser does to one person.

The record is what the console's subscriber page, ``newsletter subscribers
show`` and ``GET /api/v1/subscribers/{id}`` show: the profile and roles, the
status history with its consent evidence, every send they were in with its
delivery status, the events in their calendar, and the bounce and complaint
reports about them.

The actions follow the subscriber lifecycle of ``newsletter.subscribers``:
an organiser may unsubscribe anyone; resubscribing someone who opted out
needs fresh consent, stated in words that go into the history (the address
must not be suppressed: lift the suppression first, deliberately); erasing
removes the person (GDPR Art. 17) and keeps their deliveries without personal
data, so every send's counts stay true.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from newsletter import deliveries
from newsletter.bounces.models import BounceEvent
from newsletter.errors import NotFound, UserError
from newsletter.models import (
    Delivery,
    EventRecipient,
    EventRecord,
    Send,
    StatusChange,
    Subscriber,
    SubscriberRole,
    Suppression,
    UpdateRecord,
    utcnow,
)
from newsletter.subscribers import (
    OPTED_OUT,
    SubscriberInput,
    find,
    set_status,
    upsert,
)

# Most recent sends shown on one page of a subscriber's record.
SENDS_SHOWN = 200


@dataclass(frozen=True)
class ReceivedSend:
    """One delivery to the subscriber: which send, and what became of it."""

    delivery_id: int
    send_id: int
    kind: str
    title: str
    segment: str
    status: str
    attempts: int
    finished_at: datetime | None
    error: str | None


@dataclass(frozen=True)
class CalendarEvent:
    """An event the subscriber has in their calendar (they were sent it)."""

    event_id: int
    title: str
    start: datetime
    cancelled: bool
    since: datetime


@dataclass(frozen=True)
class Report:
    """A bounce or complaint report about the subscriber."""

    kind: str
    at: datetime
    send_id: int
    status: str
    diagnostic: str


@dataclass(frozen=True)
class SubscriberRecord:
    """Everything shown on a subscriber's page."""

    subscriber: Subscriber
    history: list[StatusChange]
    sends: list[ReceivedSend]
    events: list[CalendarEvent]
    reports: list[Report]
    suppressed: Suppression | None


def get_subscriber(session: Session, subscriber_id: int) -> Subscriber:
    """The subscriber ``subscriber_id``; raises NotFound."""
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None:
        raise NotFound(f"no subscriber with id {subscriber_id}")
    return subscriber


def lookup(session: Session, id_or_email: str) -> Subscriber:
    """The subscriber named by id ("42") or address; raises NotFound."""
    text = id_or_email.strip()
    if text.isdigit():
        return get_subscriber(session, int(text))
    return find(session, text)


def record_of(session: Session, subscriber: Subscriber) -> SubscriberRecord:
    """The subscriber's whole record (see the module docstring)."""
    history = list(
        session.scalars(
            select(StatusChange)
            .where(StatusChange.subscriber_id == subscriber.id)
            .order_by(StatusChange.at, StatusChange.id)
        )
    )
    title = func.coalesce(Send.subject, UpdateRecord.title, EventRecord.title, "")
    rows = session.execute(
        select(
            Delivery.id,
            Send.id,
            Send.kind,
            title,
            Delivery.segment,
            Delivery.status,
            Delivery.attempts,
            Delivery.finished_at,
            Delivery.error,
        )
        .join(Send, Send.id == Delivery.send_id)
        .outerjoin(UpdateRecord, UpdateRecord.id == Send.update_id)
        .outerjoin(EventRecord, EventRecord.id == Send.event_id)
        .where(Delivery.subscriber_id == subscriber.id)
        .order_by(Delivery.id.desc())
        .limit(SENDS_SHOWN)
    ).all()
    events = session.execute(
        select(
            EventRecord.id,
            EventRecord.title,
            EventRecord.start,
            EventRecord.cancelled,
            EventRecipient.created_at,
        )
        .join(EventRecipient, EventRecipient.event_id == EventRecord.id)
        .where(EventRecipient.subscriber_id == subscriber.id)
        .order_by(EventRecord.start)
    ).all()
    reports = session.scalars(
        select(BounceEvent)
        .where(
            (BounceEvent.subscriber_id == subscriber.id)
            | (BounceEvent.email_key == subscriber.email_key),
            BounceEvent.kind != "ignored",
        )
        .order_by(BounceEvent.created_at.desc())
    ).all()
    suppression = session.scalars(
        select(Suppression).where(Suppression.email_key == subscriber.email_key)
    ).first()
    return SubscriberRecord(
        subscriber=subscriber,
        history=history,
        sends=[ReceivedSend(*row) for row in rows],
        events=[CalendarEvent(*row) for row in events],
        reports=[Report(r.kind, r.created_at, r.send_id, r.status, r.diagnostic) for r in reports],
        suppressed=suppression,
    )


def record_json(record: SubscriberRecord) -> dict[str, Any]:
    """The documented JSON of a subscriber's record (CLI ``--json`` and the API)."""
    from newsletter.subscribers import to_json

    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        **to_json(record.subscriber),
        "suppressed": (
            {"reason": record.suppressed.reason, "since": iso(record.suppressed.created_at)}
            if record.suppressed
            else None
        ),
        "history": [
            {
                "at": iso(h.at),
                "status": h.status,
                "previous": h.previous,
                "source": h.source,
                "consent_source": h.consent_source,
                "consent_ip": h.consent_ip,
                "send_id": h.send_id,
            }
            for h in record.history
        ],
        "sends": [
            {
                "delivery_id": s.delivery_id,
                "send_id": s.send_id,
                "kind": s.kind,
                "title": s.title,
                "segment": s.segment,
                "status": s.status,
                "attempts": s.attempts,
                "finished_at": iso(s.finished_at),
                "error": s.error,
            }
            for s in record.sends
        ],
        "events": [
            {
                "event_id": e.event_id,
                "title": e.title,
                "start": iso(e.start),
                "cancelled": e.cancelled,
                "since": iso(e.since),
            }
            for e in record.events
        ],
        "reports": [
            {
                "kind": r.kind,
                "at": iso(r.at),
                "send_id": r.send_id,
                "status": r.status,
                "diagnostic": r.diagnostic,
            }
            for r in record.reports
        ],
    }


def add(session: Session, data: SubscriberInput, *, status: str, by: str) -> Subscriber:
    """Add one new subscriber (``active`` or ``pending``); raises UserError if the address exists.

    ``by`` names who added them; it is their consent source ("console:
    ann@example.org"), as an organiser adding someone vouches for their consent.
    """
    if status not in ("active", "pending"):
        raise UserError(f"status: a new subscriber is active or pending, not {status!r}")
    existing = session.scalars(
        select(Subscriber.id).where(Subscriber.email_key == data.email_key)
    ).first()
    if existing is not None:
        raise UserError(f"email: {data.email} is already on the list (subscriber {existing})")
    upsert(session, [data], default_status=status, consent_source=by)
    return find(session, data.email)


def edit(session: Session, subscriber: Subscriber, data: SubscriberInput) -> bool:
    """Change the profile (address, name, organisation, region, roles); True if anything changed.

    The status is not changed here (see :func:`unsubscribe`, :func:`resubscribe`).
    Raises UserError when the new address belongs to someone else.
    """
    if data.email_key != subscriber.email_key:
        other = session.scalars(
            select(Subscriber.id).where(Subscriber.email_key == data.email_key)
        ).first()
        if other is not None:
            raise UserError(f"email: {data.email} is already subscriber {other}")
        subscriber.email_key = data.email_key
    changed = False
    for name in ("email", "name", "organisation", "region"):
        value = getattr(data, name)
        if getattr(subscriber, name) != value:
            setattr(subscriber, name, value)
            changed = True
    if subscriber.role_names != sorted(data.roles):
        subscriber.roles = [SubscriberRole(role=r) for r in data.roles]
        changed = True
    if changed:
        subscriber.updated_at = utcnow()
    session.flush()
    return changed


def unsubscribe(subscriber: Subscriber, *, by: str) -> bool:
    """Unsubscribe an active or pending subscriber; False if they had already opted out."""
    if subscriber.status in OPTED_OUT:
        return False
    return set_status(subscriber, "unsubscribed", source=by)


def resubscribe(session: Session, subscriber: Subscriber, *, consent: str, by: str) -> None:
    """Make an opted-out (or pending) subscriber active again on fresh consent.

    ``consent`` says how and when they consented again ("asked by email on 2
    Dec 2026"); it is required and is recorded with the change.  Raises
    UserError without it, for someone already active, and for a suppressed
    address (remove the suppression first: it was put there for a reason).
    """
    statement = consent.strip()
    if not statement:
        raise UserError(
            "consent: say how they consented again (for example 'asked by email on 2 Dec')"
        )
    if subscriber.status == "active":
        raise UserError(f"{subscriber.email} is already active")
    suppressed = session.scalars(
        select(Suppression.reason).where(Suppression.email_key == subscriber.email_key)
    ).first()
    if suppressed is not None:
        raise UserError(
            f"{subscriber.email} is on the suppression list ({suppressed}); "
            "remove it from Suppressions first"
        )
    set_status(subscriber, "active", source=by, consent_source=f"{statement} ({by})"[:200])


def erase(session: Session, subscriber: Subscriber) -> int:
    """Erase the person (GDPR Art. 17); returns how many deliveries were kept anonymised.

    Deletes the subscriber, their roles, history, calendar entries and the
    bounce reports about them; their deliveries stay with no subscriber and
    with the address cut out of any error text, so every send's counts and
    the anonymised delivery total remain.  Deliveries not yet made are
    skipped.  A suppression of the address stays (it keeps them from being
    mailed again); an organiser can remove it separately.
    """
    address = subscriber.email
    subscriber_id = subscriber.id
    deliveries.skip_pending_of_subscriber(session, subscriber_id, "subscriber erased")
    deliveries.forget_address(session, subscriber_id, address)
    kept = int(
        session.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(Delivery.subscriber_id == subscriber_id)
        )
        or 0
    )
    session.execute(
        delete(BounceEvent).where(
            (BounceEvent.subscriber_id == subscriber_id)
            | (BounceEvent.email_key == subscriber.email_key)
        )
    )
    session.delete(subscriber)
    session.flush()
    return kept


def erased_deliveries(session: Session) -> int:
    """How many deliveries belong to erased subscribers (the anonymised count)."""
    return int(
        session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.subscriber_id.is_(None))
        )
        or 0
    )
