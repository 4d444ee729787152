"""The delivery lifecycle: pending → claimed → sent | failed | skipped (or back to pending).

A :class:`~newsletter.models.Delivery` is one email to one subscriber within a
send; the row exists before the message is sent (docs/architecture.md, "Rows
before tasks").  Every change of a delivery's status is made by a statement
built in this module, and every statement is built through :func:`move`, which
checks the change against :data:`TRANSITIONS` and raises
:class:`IllegalDeliveryTransition` for one that is not in the table.  The
statements are built once at import (the hot path runs them per group of
messages), so an illegal one fails as soon as the product is imported.

The moves:

- ``pending → claimed``: a batch claims its rows (:func:`claim`).
- ``claimed → sent | failed | skipped``: the result of one message
  (:data:`MARK_SENT`, :data:`MARK_FAILED`, :data:`MARK_SKIPPED`).
- ``claimed → pending``: a retry later (:data:`MARK_RETRY`), rows handed back
  by a paused or throttled batch (:func:`release`), or claims left by a dead
  worker (:func:`hand_back` once its lease lapsed, :func:`reclaim_stale`
  without Redis).
- ``pending → skipped``: the send was cancelled (:func:`skip_pending`) or the
  subscriber erased (:func:`skip_pending_of_subscriber`);
  ``claimed → skipped`` for a batch that notices the cancel (:func:`release`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Final, cast

from sqlalchemy import Table, bindparam, func, or_, text, update
from sqlalchemy.orm import Session

from newsletter.db import id_in, session_scope
from newsletter.errors import NewsletterError
from newsletter.models import Delivery, DeliveryStatus, utcnow

__all__ = [
    "DELIVERIES",
    "MARK_FAILED",
    "MARK_RETRY",
    "MARK_SENT",
    "MARK_SKIPPED",
    "PG_MARK_SENT",
    "PG_MARK_SENT_SQL",
    "TRANSITIONS",
    "DeliveryStatus",
    "IllegalDeliveryTransition",
    "claim",
    "forget_address",
    "hand_back",
    "move",
    "reclaim_stale",
    "release",
    "skip_pending",
    "skip_pending_of_subscriber",
]

PENDING, CLAIMED, SENT, FAILED, SKIPPED = (
    DeliveryStatus.PENDING,
    DeliveryStatus.CLAIMED,
    DeliveryStatus.SENT,
    DeliveryStatus.FAILED,
    DeliveryStatus.SKIPPED,
)

TRANSITIONS: Final[dict[DeliveryStatus, frozenset[DeliveryStatus]]] = {
    PENDING: frozenset({CLAIMED, SKIPPED}),
    CLAIMED: frozenset({PENDING, SENT, FAILED, SKIPPED}),
    SENT: frozenset(),
    FAILED: frozenset(),
    SKIPPED: frozenset(),
}

# Core table: executemany UPDATEs with per-row bound values need Core, not ORM.
DELIVERIES = cast(Table, Delivery.__table__)


class IllegalDeliveryTransition(NewsletterError):  # noqa: N818 (reads as what happened)
    """A change of delivery status that the lifecycle does not allow: a bug, not bad input."""


def move(from_: Iterable[DeliveryStatus], to: DeliveryStatus) -> DeliveryStatus:
    """Check that every ``from_ → to`` is a legal move; returns ``to`` for the statement.

    Raises IllegalDeliveryTransition naming the first move that is not.
    """
    for status in from_:
        if to not in TRANSITIONS[status]:
            raise IllegalDeliveryTransition(f"a delivery cannot go from {status} to {to}")
    return to


_BY_ID = DELIVERIES.c.id == bindparam("did")
# Failures, skips and retries move only rows still claimed, so a group written
# again after a commit whose answer was lost changes nothing twice (attempts).
_STILL_CLAIMED = DELIVERIES.c.status == CLAIMED
MARK_SENT = (
    update(DELIVERIES)
    .where(_BY_ID)
    .values(
        status=move([CLAIMED], SENT),
        message_id=bindparam("mid"),
        finished_at=bindparam("at"),
        error=None,
    )
)
MARK_FAILED = (
    update(DELIVERIES)
    .where(_BY_ID, _STILL_CLAIMED)
    .values(
        status=move([CLAIMED], FAILED),
        error=bindparam("err"),
        finished_at=bindparam("at"),
        attempts=DELIVERIES.c.attempts + 1,
    )
)
MARK_SKIPPED = (
    update(DELIVERIES)
    .where(_BY_ID, _STILL_CLAIMED)
    .values(status=move([CLAIMED], SKIPPED), error=bindparam("err"), finished_at=bindparam("at"))
)
MARK_RETRY = (
    update(DELIVERIES)
    .where(_BY_ID, _STILL_CLAIMED)
    .values(
        status=move([CLAIMED], PENDING),
        error=bindparam("err"),
        next_attempt_at=bindparam("due"),
        attempts=DELIVERIES.c.attempts + 1,
        claimed_by=None,
        enqueued_at=bindparam("at"),
    )
)

# PostgreSQL: the common outcome of a whole group in one statement, the rows
# passed as arrays and unnested, rather than one statement per message
# (executemany): PostgreSQL's CPU per message fell by about a third.
PG_MARK_SENT_SQL: Final = (
    # The status is this module's own constant, checked by move(): nothing to inject.
    f"UPDATE deliveries SET status = '{move([CLAIMED], SENT)}', message_id = v.mid, "  # noqa: S608
    "finished_at = :at, error = NULL "
    "FROM unnest(CAST(:dids AS integer[]), CAST(:mids AS varchar[])) AS v(did, mid) "
    "WHERE deliveries.id = v.did"
)
PG_MARK_SENT = text(PG_MARK_SENT_SQL)


def claim(session: Session, send_id: int, ids: Sequence[int], task_id: str) -> list[int]:
    """Claim the batch's rows that are pending and due (or already ours); returns their ids."""
    now = utcnow()
    table = DELIVERIES
    result = session.execute(
        update(table)
        .where(
            id_in(session, table.c.id, ids),
            table.c.send_id == send_id,
            or_(
                (table.c.status == PENDING)
                & or_(table.c.next_attempt_at.is_(None), table.c.next_attempt_at <= now),
                (table.c.status == CLAIMED) & (table.c.claimed_by == task_id),
            ),
        )
        .values(status=move([PENDING], CLAIMED), claimed_at=now, claimed_by=task_id)
        .returning(table.c.id)
    )
    return sorted(int(i) for i in result.scalars())


def release(send_id: int, ids: list[int], to: DeliveryStatus, *, forget_task: bool = False) -> None:
    """Give claimed rows back (``pending``) or close them (``skipped``, send cancelled).

    ``forget_task`` says no task will come for the rows, so recovery should
    re-enqueue them without waiting for their last enqueue to grow old.
    """
    if not ids:
        return
    values: dict[str, Any] = {"status": move([CLAIMED], to), "claimed_by": None}
    if forget_task:
        values["enqueued_at"] = None
    if to == SKIPPED:
        values.update(error="send cancelled", finished_at=utcnow())
    with session_scope() as session:
        session.execute(
            update(Delivery)
            .where(
                id_in(session, Delivery.id, ids),
                Delivery.send_id == send_id,
                Delivery.status == CLAIMED,
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )


def reclaim_stale(session: Session, claimed_before: datetime) -> int:
    """Give back claims older than ``claimed_before`` (their worker died); returns how many."""
    return int(
        session.execute(
            update(Delivery)
            .where(Delivery.status == CLAIMED, Delivery.claimed_at < claimed_before)
            .values(status=move([CLAIMED], PENDING), claimed_by=None, enqueued_at=None)
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
    )


def hand_back(session: Session, ids: Sequence[int]) -> int:
    """Give back the claimed rows among ``ids`` whose task died; returns how many.

    Recovery calls it once the result journal is settled, so none of them went out.
    """
    if not ids:
        return 0
    return int(
        session.execute(
            update(Delivery)
            .where(id_in(session, Delivery.id, ids), Delivery.status == CLAIMED)
            .values(status=move([CLAIMED], PENDING), claimed_by=None, enqueued_at=None)
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
    )


def skip_pending(session: Session, send_id: int, reason: str) -> int:
    """Close the send's pending deliveries as skipped with ``reason``; returns how many."""
    result = session.execute(
        update(Delivery)
        .where(Delivery.send_id == send_id, Delivery.status == PENDING)
        .values(status=move([PENDING], SKIPPED), error=reason, finished_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def skip_pending_of_subscriber(session: Session, subscriber_id: int, reason: str) -> int:
    """Close one subscriber's pending deliveries (in any send) as skipped; returns how many."""
    result = session.execute(
        update(Delivery)
        .where(Delivery.subscriber_id == subscriber_id, Delivery.status == PENDING)
        .values(status=move([PENDING], SKIPPED), error=reason, finished_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def forget_address(session: Session, subscriber_id: int, address: str) -> None:
    """Cut ``address`` out of the error texts of the subscriber's deliveries (erasure)."""
    for text_form in dict.fromkeys((address, address.lower())):
        session.execute(
            update(Delivery)
            .where(Delivery.subscriber_id == subscriber_id, Delivery.error.is_not(None))
            .values(error=func.replace(Delivery.error, text_form, "[erased address]"))
            .execution_options(synchronize_session=False)
        )
