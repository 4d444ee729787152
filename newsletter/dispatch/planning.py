"""Planning a send: take it, render its editions if need be, snapshot its audience.

``plan_send`` runs when a send is due.  It moves the send from ``scheduled``
to ``sending`` (a conditional UPDATE: exactly one planner wins), renders one
edition per segment unless they were rendered when the send was scheduled
(Jinja2 + premailer run only in ``newsletter.editions``), and inserts one
Delivery row per recipient with set-based ``INSERT … SELECT`` statements
(unique per send and subscriber; a subscriber in several segments gets the
edition of the first segment listed).  Subscribers who join later are not in
the snapshot.

The snapshot is streamed (docs/architecture.md, "Streamed planning"): the
first few batches' worth of subscribers, in id order, are inserted in the
transaction that starts the send; once it commits they are enqueued, and
workers deliver them while the planner inserts the rest
(:func:`complete_snapshot`) and then enqueues that.  Until the snapshot is
complete the send's ``planned`` is ``sends.PLANNING`` and
``sends.finish_if_done`` will not finish it; a planner that dies in between
is replaced (``plan_send`` again, by Celery's redelivery or by recovery), and
the snapshot's statements skip subscribers already in it.  Rows are still
committed before the tasks that name them.
"""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement, String, exists, func, insert, literal, select, text
from sqlalchemy.orm import Session

from newsletter import editions, sends
from newsletter import segments as segment_store
from newsletter.config import get_settings
from newsletter.db import session_scope
from newsletter.dispatch.batches import enqueue_pending
from newsletter.dispatch.leases import Lease, task_book
from newsletter.events.queries import notice_audience
from newsletter.models import Delivery, Send, SendStatus, Subscriber, utcnow

# Deliveries of event notices (updates, cancellations, reminders) are labelled so.
EVENT_AUDIENCE = "event-recipients"
# The transaction that starts a send snapshots this many batches' worth of
# subscribers (in id order) so that workers start on them at once.  Measured
# (benchmarks/first_message.py, 10,000 subscribers on PostgreSQL): the whole
# snapshot took 1.5 s on the loaded test machine, the first 1,000 rows a
# tenth of that.
FIRST_BATCHES = 4


def plan_send(send_id: int, task_id: str | None = None) -> None:
    """Start a due send: editions, the first delivery rows, enqueue; then the rest.

    Idempotent: a send already ``sending`` has its snapshot completed if a
    planner died before finishing it, and its pending rows are otherwise left
    to their batches and to recovery (or, without a Redis broker,
    re-enqueued); a paused, cancelled, finished or not-yet-due send is left
    alone.  The new rows carry this task's id until their batches are
    enqueued, under a lease (``newsletter.dispatch.leases``): if the planner
    dies in between, recovery enqueues what it left.
    """
    task_id = task_id or uuid.uuid4().hex
    book = task_book()
    lease = Lease(book, task_id, get_settings().lease_seconds)
    if not lease.start():
        return  # another run of this task plans the send (or recovery will, if it died)
    try:
        outcome = _take_and_snapshot(send_id, task_id)
        if outcome == "planned" or (outcome == "sending" and book is None):
            # The first rows are committed: hand them to the workers, then plan the rest.
            enqueue_pending(send_id)
        if outcome is not None:
            after_id = complete_snapshot(send_id, task_id)
            if after_id is not None:
                enqueue_pending(send_id, after_id=after_id)
    finally:
        lease.end()
    sends.finish_if_done(send_id)  # a send with nobody in its audience ends at once


def _take_and_snapshot(send_id: int, task_id: str) -> str | None:
    """Move a due send to sending with its editions and its first rows.

    Returns "planned" if this call did, "sending" if the send already was,
    None if it is not due or no longer sendable.
    """
    now = utcnow()
    with session_scope() as session:
        send = session.get(Send, send_id)
        if send is None or send.status not in (SendStatus.SCHEDULED, SendStatus.SENDING):
            return None
        if send.status == SendStatus.SENDING:
            return "sending"
        if send.scheduled_at is not None and send.scheduled_at > now:
            return None
        if not sends.start(session, send_id, now):
            return None
        session.refresh(send)
        editions.ensure_rendered(session, send)
        snapshot_audience(session, send, task_id, up_to=first_rows_boundary(session))
        return "planned"


def first_rows_boundary(session: Session) -> int | None:
    """The subscriber id up to which the first transaction snapshots, or None for all.

    The id of the ``FIRST_BATCHES × batch_size``-th subscriber (any status,
    in id order): an index range scan, whatever the size of the list.
    """
    first = FIRST_BATCHES * get_settings().batch_size
    return session.scalar(select(Subscriber.id).order_by(Subscriber.id).offset(first - 1).limit(1))


def complete_snapshot(send_id: int, task_id: str | None = None) -> int | None:
    """Insert the rest of the send's Delivery rows and record how many there are.

    Runs with the send's row locked (PostgreSQL), so two planners never
    insert at once; does nothing for a send whose snapshot is complete or
    that was cancelled meanwhile (a paused send is completed: resuming
    enqueues its rows).  The new rows carry ``task_id`` as the first ones do.
    Returns the greatest delivery id the send had before (0 for none): the
    rows this call inserted come after it; None if it did nothing.
    """
    with session_scope() as session:
        send = session.scalars(select(Send).where(Send.id == send_id).with_for_update()).first()
        if (
            send is None
            or send.planned != sends.PLANNING
            or send.status not in (SendStatus.SENDING, SendStatus.PAUSED)
        ):
            return None
        before = session.scalar(select(func.max(Delivery.id)).where(Delivery.send_id == send_id))
        send.planned = snapshot_audience(session, send, task_id)
        analyse_deliveries(session)
    return int(before or 0)


def snapshot_audience(
    session: Session, send: Send, task_id: str | None = None, *, up_to: int | None = None
) -> int:
    """Insert the send's Delivery rows (subscribers with id ≤ ``up_to`` only, if given).

    The rows are stamped with the planning task (``claimed_by``).  Subscribers
    already in the snapshot are skipped, so this can run again after a
    partial snapshot.  Returns how many rows the send has now.
    """
    for label, condition in audience_conditions(session, send):
        already = exists().where(
            Delivery.send_id == send.id, Delivery.subscriber_id == Subscriber.id
        )
        where = [condition, ~already]
        if up_to is not None:
            where.append(Subscriber.id <= up_to)
        rows = (
            select(
                literal(send.id),
                Subscriber.id,
                literal(label),
                literal("pending"),
                literal(0),
                literal(task_id, String(64)),
            )
            .where(*where)
            .order_by(Subscriber.id)
        )
        session.execute(
            insert(Delivery).from_select(
                ["send_id", "subscriber_id", "segment", "status", "attempts", "claimed_by"], rows
            )
        )
    total = session.scalar(select(func.count(Delivery.id)).where(Delivery.send_id == send.id))
    return int(total or 0)


def analyse_deliveries(session: Session) -> None:
    """Refresh PostgreSQL's statistics of the deliveries table after a snapshot."""
    if session.get_bind().dialect.name == "postgresql":
        # The snapshot just added rows the planner has no statistics for (autovacuum
        # analyses a minute or more later).  Without them deliver_batch's claim,
        # `id IN (…) AND send_id = …`, is planned on the (send_id, status, id) index
        # and filters every row of the send, per batch: O(N²) per send.  Measured
        # (benchmarks/dispatch.py): 42 ms instead of 2.6 ms per claim at 20,000 rows.
        # The first batches, enqueued before this, claim among a few hundred rows.
        session.execute(text("ANALYZE deliveries"))


def audience_conditions(session: Session, send: Send) -> list[tuple[str, ColumnElement[bool]]]:
    """(edition label, WHERE over Subscriber) pairs, in priority order.

    Newsletters and invitations go to their segments' active subscribers;
    event notices to those who received the event, as
    :func:`newsletter.events.queries.notice_audience` says.
    """
    if send.kind in ("newsletter", "invitation"):
        return [
            (name, segment_store.audience_condition(segment_store.get(session, name).rule))
            for name in send.segments
        ]
    return [(EVENT_AUDIENCE, notice_audience(send.kind, send.event_id, utcnow()))]
