"""Periodic work run by Celery beat (or the embedded worker loop).

* ``dispatch_due``: start scheduled sends whose time has come.
* ``recover``: take back deliveries claimed by a worker that died (settling
  the result journal first), re-enqueue pending rows whose task was lost
  (never rows waiting in a healthy queue), plan again sends whose planner
  died before completing the snapshot, and finish sends whose last batch
  ended without noticing.
* ``send_reminders``: enqueue the reminder sends ``newsletter.events.reminders``
  finds due.
* ``poll_bounces``: read the bounce mailbox (IMAP or POP3) when one is configured.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import or_, select

from newsletter import deliveries
from newsletter.config import get_settings
from newsletter.db import session_scope
from newsletter.dispatch.batches import enqueue_pending
from newsletter.dispatch.journal import settle
from newsletter.dispatch.leases import QUEUED, RUNNING, TaskBook, task_book
from newsletter.dispatch.queue import get_queue
from newsletter.events.reminders import create_due_reminders
from newsletter.models import Delivery, DeliveryStatus, Send, SendStatus, utcnow
from newsletter.sends import due, finish_if_done, planning_stalled

log = logging.getLogger(__name__)


def dispatch_due() -> list[int]:
    """Enqueue planning for every due scheduled send; returns their ids."""
    with session_scope() as session:
        ids = due(session)
    for send_id in ids:
        get_queue().enqueue("plan_send", send_id)
    return ids


def recover(now: datetime | None = None) -> dict[str, int]:
    """Repair what crashes and broker restarts left behind; returns what it did.

    With a Redis broker, liveness is known (``newsletter.dispatch.leases``):
    rows claimed by a task whose heartbeat has lapsed are settled against the
    result journal and the rest handed back; pending rows whose task is lost
    are re-enqueued, and rows whose task waits in the queue are left alone.
    Without one (the embedded worker), claims older than
    ``NEWSLETTER_CLAIM_TIMEOUT_SECONDS`` and pending rows queued longer ago
    than ``NEWSLETTER_REQUEUE_AFTER_SECONDS`` are taken.
    """
    settings = get_settings()
    now = now or utcnow()
    book = task_book()
    if book is None:
        stale_claim = now - timedelta(seconds=settings.claim_timeout_seconds)
        with session_scope() as session:
            reclaimed = deliveries.reclaim_stale(session, stale_claim)
    else:
        reclaimed = _take_back_dead_claims(book, now)
    with session_scope() as session:
        sending = list(session.scalars(select(Send.id).where(Send.status == SendStatus.SENDING)))
        quiet = now - timedelta(seconds=settings.requeue_after_seconds)
        replan = planning_stalled(session, quiet)
    for send_id in replan:  # a planner died before completing the snapshot
        get_queue().enqueue("plan_send", send_id)
    requeued = 0
    for send_id in sending:
        if book is None:
            requeued += enqueue_pending(send_id, older_than=quiet)
        else:
            requeued += _requeue_lost(book, send_id, now)
        finish_if_done(send_id)
    if reclaimed or requeued:
        log.warning("recovery: %s claims taken back, %s rows re-enqueued", reclaimed, requeued)
    return {"reclaimed": int(reclaimed), "requeued": requeued}


def _take_back_dead_claims(book: TaskBook, now: datetime) -> int:
    """Settle and hand back the rows of tasks whose lease lapsed; returns how many rows."""
    lease = get_settings().lease_seconds
    if book.uptime() < lease:
        # Redis restarted less than a lease ago: live workers may not have
        # rewritten their heartbeats yet, so absence proves nothing.
        return 0
    # A claim younger than a lease may belong to a task whose heartbeat is
    # being written right now; its turn comes at the next run.
    settled_before = now - timedelta(seconds=lease)
    with session_scope() as session:
        holders = session.execute(
            select(Delivery.claimed_by, Delivery.send_id)
            .where(
                Delivery.status == DeliveryStatus.CLAIMED,
                or_(Delivery.claimed_at.is_(None), Delivery.claimed_at < settled_before),
            )
            .group_by(Delivery.claimed_by, Delivery.send_id)
        ).all()
    states = book.states([str(t) for t, _ in holders if t is not None])
    taken = 0
    for task_id, send_id in holders:
        if task_id is not None and states.get(str(task_id)) == RUNNING:
            continue
        with session_scope() as session:
            ids = list(
                session.scalars(
                    select(Delivery.id).where(
                        Delivery.status == DeliveryStatus.CLAIMED,
                        Delivery.send_id == send_id,
                        Delivery.claimed_by.is_(None)
                        if task_id is None
                        else Delivery.claimed_by == task_id,
                    )
                )
            )
        settle(send_id, ids)
        with session_scope() as session:
            taken += deliveries.hand_back(session, ids)
    return taken


def _requeue_lost(book: TaskBook, send_id: int, now: datetime) -> int:
    """Re-enqueue the send's pending rows whose task is neither queued nor running."""
    # Rows stamped a moment ago may belong to a task not yet noted as queued.
    stamped_before = now - timedelta(seconds=10)
    with session_scope() as session:
        tasks = list(
            session.scalars(
                select(Delivery.claimed_by)
                .where(
                    Delivery.send_id == send_id,
                    Delivery.status == DeliveryStatus.PENDING,
                    or_(Delivery.enqueued_at.is_(None), Delivery.enqueued_at < stamped_before),
                )
                .group_by(Delivery.claimed_by)
            )
        )
    if not tasks:
        return 0
    states = book.states([t for t in tasks if t is not None])
    lost = [t for t in tasks if t is not None and states.get(t) not in (QUEUED, RUNNING)]
    if not lost and None not in tasks:
        return 0
    log.info("send %s: rows of %s lost tasks (and rows of none) re-enqueued", send_id, len(lost))
    return enqueue_pending(send_id, older_than=stamped_before, lost_tasks=lost)


def send_reminders(now: datetime | None = None) -> list[int]:
    """Create and enqueue due reminder sends; returns the new send ids."""
    created = create_due_reminders(now)
    for send_id in created:
        get_queue().enqueue("plan_send", send_id)
    return created


def poll_bounces() -> int:
    """Ingest what the configured bounce mailbox holds; returns how many messages.

    Does nothing (0) when ``NEWSLETTER_BOUNCE_MAILBOX_URL`` is unset.
    """
    if not get_settings().bounce_mailbox_url:
        return 0
    from newsletter.bounces.sources import poll_mailbox

    return len(poll_mailbox())
