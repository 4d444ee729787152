"""The send lifecycle: draft → scheduled → sending → finished, with paused and cancelled.

A :class:`~newsletter.models.Send` names an update, the segments it goes to
(in order: a subscriber in several gets the edition of the first listed) and
when.  Workers plan it into Delivery rows and deliver them
(``newsletter.dispatch``); this module creates sends and makes every change
of a send's status, each a conditional UPDATE so that two actors never both
win a change.  Every change goes through :func:`move`, which checks it
against :data:`TRANSITIONS` and raises :class:`IllegalSendTransition` for a
move the lifecycle does not have (a bug, not bad input).  A send's editions
are rendered when it is scheduled (``newsletter.editions``), so that the
planner, when the time comes, only has to snapshot the audience:

- ``draft → scheduled``, ``scheduled → scheduled`` (re-timed): :func:`schedule`
  (a send is created scheduled by :func:`create_send` unless it is a draft)
- ``scheduled → sending``: :func:`start`, when a worker plans the send
- ``sending → finished``: :func:`finish_if_done`, when no delivery is open
- ``scheduled | sending → paused``: :func:`pause`, or :func:`pause_after_failures`
- ``paused → sending | scheduled``: :func:`resume`
- ``draft | scheduled | sending | paused → cancelled``: :func:`cancel`
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Final, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Table, exists, func, select, update
from sqlalchemy.orm import Session

from newsletter import deliveries, editions
from newsletter import segments as segment_store
from newsletter.config import get_settings
from newsletter.db import session_scope
from newsletter.errors import Conflict, NewsletterError, NotFound, UserError
from newsletter.events.queries import get_event
from newsletter.models import Delivery, DeliveryStatus, Send, SendStatus, utcnow
from newsletter.updates import get_record


class SendError(UserError, ValueError):
    """A send that cannot be created or cannot make the asked change."""


class SendNotFoundError(SendError, NotFound):
    """No send with that id."""


class SendStateError(SendError, Conflict):
    """The send's status forbids the change (a finished send cannot be paused)."""


class IllegalSendTransition(NewsletterError):  # noqa: N818 (reads as what happened)
    """A change of send status that the lifecycle does not allow: a bug, not bad input."""


DRAFT, SCHEDULED, SENDING, PAUSED, CANCELLED, FINISHED = (
    SendStatus.DRAFT,
    SendStatus.SCHEDULED,
    SendStatus.SENDING,
    SendStatus.PAUSED,
    SendStatus.CANCELLED,
    SendStatus.FINISHED,
)

TRANSITIONS: Final[dict[SendStatus, frozenset[SendStatus]]] = {
    DRAFT: frozenset({SCHEDULED, CANCELLED}),
    SCHEDULED: frozenset({SCHEDULED, SENDING, PAUSED, CANCELLED}),
    SENDING: frozenset({FINISHED, PAUSED, CANCELLED}),
    PAUSED: frozenset({SENDING, SCHEDULED, CANCELLED}),
    CANCELLED: frozenset(),
    FINISHED: frozenset(),
}
# The statuses in which a send is over; nothing moves it again.
FINAL: Final = frozenset(s for s, targets in TRANSITIONS.items() if not targets)
# ``Send.planned`` from the start of a send until its audience snapshot is
# complete (docs/architecture.md, "Streamed planning"): such a send is never
# finished, however few of its rows are open.
PLANNING: Final = -1

SENDS = cast(Table, Send.__table__)


def move(from_: Iterable[SendStatus], to: SendStatus) -> SendStatus:
    """Check that every ``from_ → to`` is a legal move; returns ``to`` for the statement.

    Raises IllegalSendTransition naming the first move that is not.
    """
    for status in from_:
        if to not in TRANSITIONS[status]:
            raise IllegalSendTransition(f"a send cannot go from {status} to {to}")
    return to


@dataclass(frozen=True)
class SendCounts:
    """Where a send stands; when finished, planned = sent + failed + skipped."""

    planned: int
    sent: int
    failed: int
    skipped: int
    pending: int


def parse_uk_time(text: str, zone: str | None = None, *, option: str = "--at") -> datetime:
    """Parse "2026-12-01 09:00" (or ISO 8601) as local time in ``zone`` (default UK).

    A value with its own UTC offset keeps it.  Raises SendError naming the
    option (``--at`` unless given) and the text.
    """
    tz = ZoneInfo(zone or get_settings().timezone)
    cleaned = text.strip().replace("T", " ")
    try:
        value = datetime.fromisoformat(cleaned)
    except ValueError as exc:
        raise SendError(f"{option} {text!r}: expected a time like '2026-12-01 09:00'") from exc
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value


def create_send(
    session: Session,
    *,
    update_id: int | None,
    segments: list[str],
    at: datetime | None = None,
    subject: str | None = None,
    kind: str = "newsletter",
    event_id: int | None = None,
    reminder_offset: int | None = None,
    created_by: str | None = None,
    draft: bool = False,
    render: bool = True,
    message: str | None = None,
) -> Send:
    """Create a send, scheduled for ``at`` (default now) unless ``draft``.

    ``message`` is an event notice's note from the organiser (shown in it).

    A scheduled send's editions are rendered and stored here, unless
    ``render`` is False: then the planner renders them when it starts the
    send.  ``newsletter send`` passes False for a send due at once: its
    fresh process would import the renderer (about a third of its start-up,
    measured in benchmarks/first_message.py) only to hand the send to a warm
    worker a moment later.

    Raises NotFound (UpdateNotFoundError, EventNotFoundError,
    SegmentNotFoundError) when the update, the event or a segment does not
    exist, and SendError when no segment is given for a segment-targeted send
    or when the subject holds a line break.
    """
    if update_id is not None:
        get_record(session, update_id)
    if event_id is not None:
        get_event(session, event_id)
    if kind in ("newsletter", "invitation") and not segments:
        raise SendError("segments: name at least one segment")
    unique: list[str] = []
    for name in segments:
        segment_store.get(session, name)
        if name not in unique:
            unique.append(name)
    if subject is not None and ("\r" in subject or "\n" in subject):
        raise SendError("subject: must be one line")
    send = Send(
        kind=kind,
        update_id=update_id,
        event_id=event_id,
        reminder_offset=reminder_offset,
        segments=unique,
        subject=subject,
        status=DRAFT if draft else SCHEDULED,
        scheduled_at=None if draft else (at or utcnow()),
        created_by=created_by,
        message=message,
    )
    session.add(send)
    session.flush()
    if render and not draft:
        editions.render_send_editions(session, send)
    return send


def get_send(session: Session, send_id: int) -> Send:
    """The send ``send_id``; raises SendNotFoundError (a SendError) if there is none."""
    send = session.get(Send, send_id)
    if send is None:
        raise SendNotFoundError(f"no send with id {send_id}")
    return send


def _transition(
    session: Session,
    send_id: int,
    allowed: tuple[SendStatus, ...],
    to: SendStatus,
    **values: Any,
) -> bool:
    """Move the send to ``to`` if it is in one of ``allowed``; True if this call did it."""
    result = session.execute(
        update(Send)
        .where(Send.id == send_id, Send.status.in_(allowed))
        .values(status=move(allowed, to), **values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def schedule(session: Session, send_id: int, at: datetime | None = None) -> None:
    """Schedule a draft (or re-time a scheduled send), rendering its editions if needed.

    Raises SendStateError (a Conflict) when the send is neither a draft nor scheduled.
    """
    if not _transition(
        session, send_id, (DRAFT, SCHEDULED), SCHEDULED, scheduled_at=at or utcnow()
    ):
        raise SendStateError(
            f"send {send_id} is {get_send(session, send_id).status}; cannot schedule"
        )
    send = get_send(session, send_id)
    session.refresh(send)
    editions.ensure_rendered(session, send)


def pause(session: Session, send_id: int, reason: str = "paused by an organiser") -> None:
    """Pause a scheduled or running send; in-flight batches stop at their next record."""
    if not _transition(session, send_id, (SCHEDULED, SENDING), PAUSED, status_reason=reason):
        raise SendStateError(f"send {send_id} is {get_send(session, send_id).status}; cannot pause")


def resume(session: Session, send_id: int) -> str:
    """Resume a paused send; returns the new status (``sending`` or ``scheduled``).

    A send paused before it started goes back to ``scheduled``; the caller
    enqueues its pending deliveries (``newsletter.dispatch.enqueue_pending``).
    """
    send = get_send(session, send_id)
    target = SENDING if send.started_at is not None else SCHEDULED
    if not _transition(
        session, send_id, (PAUSED,), target, status_reason=None, consecutive_failures=0
    ):
        raise SendStateError(f"send {send_id} is {send.status}; only a paused send can resume")
    return target


def cancel(session: Session, send_id: int) -> int:
    """Cancel a send that has not finished; pending deliveries become skipped.

    Returns how many deliveries were skipped.  In-flight batches notice at
    their next record and skip what they had not sent.
    """
    if not _transition(
        session,
        send_id,
        (DRAFT, SCHEDULED, SENDING, PAUSED),
        CANCELLED,
        status_reason="cancelled by an organiser",
        finished_at=utcnow(),
    ):
        raise SendStateError(
            f"send {send_id} is {get_send(session, send_id).status}; cannot cancel"
        )
    return deliveries.skip_pending(session, send_id, "send cancelled")


def start(session: Session, send_id: int, now: datetime) -> bool:
    """Move a scheduled send to sending (a worker plans it); True if this call did it.

    Its ``planned`` becomes :data:`PLANNING` until the planner has completed
    the audience snapshot.
    """
    return _transition(session, send_id, (SCHEDULED,), SENDING, started_at=now, planned=PLANNING)


def planning_stalled(session: Session, started_before: datetime) -> list[int]:
    """Sending sends, started before ``started_before``, whose snapshot is incomplete.

    Their planner died between the first rows and the rest; recovery plans
    them again (``newsletter.dispatch.planning.plan_send`` is idempotent).
    """
    return list(
        session.scalars(
            select(Send.id).where(
                Send.status.in_((SENDING, PAUSED)),
                Send.planned == PLANNING,
                Send.started_at < started_before,
            )
        )
    )


def finish_if_done(send_id: int) -> bool:
    """Mark a sending send finished when its snapshot is complete and no delivery is open.

    Open means pending or claimed.  One conditional UPDATE, so concurrent
    batches cannot both finish it or finish it early.  Returns True if this
    call finished the send.
    """
    open_rows = exists().where(
        Delivery.send_id == send_id,
        Delivery.status.in_((DeliveryStatus.PENDING, DeliveryStatus.CLAIMED)),
    )
    with session_scope() as session:
        result = session.execute(
            update(Send)
            .where(Send.id == send_id, Send.status == SENDING, Send.planned != PLANNING, ~open_rows)
            .values(status=move([SENDING], FINISHED), finished_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


def pause_after_failures(connection: Connection, send_id: int, failures: int) -> bool:
    """Pause a sending send after ``failures`` consecutive failed deliveries; True if paused.

    Core, on the result writer's connection (part of its transaction).
    """
    result = connection.execute(
        update(SENDS)
        .where(SENDS.c.id == send_id, SENDS.c.status == SENDING)
        .values(
            status=move([SENDING], PAUSED),
            status_reason=f"paused after {failures} consecutive failed deliveries; "
            "check the mail server, then resume",
        )
    )
    return bool(result.rowcount)


def counts(session: Session, send_id: int) -> SendCounts:
    """Delivery counts by outcome; ``pending`` includes rows claimed by a worker."""
    rows = session.execute(
        select(Delivery.status, func.count())
        .where(Delivery.send_id == send_id)
        .group_by(Delivery.status)
    ).all()
    by_status = {status: int(n) for status, n in rows}
    return SendCounts(
        planned=sum(by_status.values()),
        sent=by_status.get("sent", 0),
        failed=by_status.get("failed", 0),
        skipped=by_status.get("skipped", 0),
        pending=by_status.get(DeliveryStatus.PENDING, 0) + by_status.get(DeliveryStatus.CLAIMED, 0),
    )


def last_error(session: Session, send_id: int) -> dict[str, Any] | None:
    """The most recent delivery error of the send (a failure, or a retry waiting), or None.

    What an organiser needs when a send pauses itself or slows down: which
    delivery, its state, the server's answer, and when.
    """
    moment = func.coalesce(Delivery.finished_at, Delivery.enqueued_at)
    row = session.execute(
        select(Delivery.id, Delivery.status, Delivery.error, moment)
        .where(
            Delivery.send_id == send_id,
            Delivery.error.is_not(None),
            Delivery.status.in_(("failed", "pending")),
        )
        .order_by(moment.desc().nulls_last(), Delivery.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    delivery_id, status, error, at = row
    return {
        "delivery_id": delivery_id,
        "status": status,
        "error": error,
        "at": at.isoformat() if at is not None else None,
    }


def to_json(session: Session, send: Send) -> dict[str, Any]:
    """The documented JSON of a send: id, status and its counts (plus context)."""
    return {
        "id": send.id,
        "status": send.status,
        **asdict(counts(session, send.id)),
        "kind": send.kind,
        "update_id": send.update_id,
        "event_id": send.event_id,
        "segments": list(send.segments),
        "subject": send.subject,
        "scheduled_at": send.scheduled_at.isoformat() if send.scheduled_at else None,
        "started_at": send.started_at.isoformat() if send.started_at else None,
        "finished_at": send.finished_at.isoformat() if send.finished_at else None,
        "reason": send.status_reason,
        "last_error": last_error(session, send.id),
    }


def due(session: Session, now: datetime | None = None) -> list[int]:
    """Ids of scheduled sends whose time has come, oldest first."""
    return list(
        session.scalars(
            select(Send.id)
            .where(Send.status == SCHEDULED, Send.scheduled_at <= (now or utcnow()))
            .order_by(Send.scheduled_at, Send.id)
        )
    )


def list_sends(session: Session, limit: int = 50) -> list[Send]:
    """The most recent sends, newest first."""
    return list(session.scalars(select(Send).order_by(Send.id.desc()).limit(limit)))
