"""Periodic work run by Celery beat (or the embedded worker loop).

* ``dispatch_due``: start scheduled sends whose time has come.
* ``recover``: take back deliveries claimed by a worker that died, re-enqueue
  pending rows whose task a broker restart lost, plan again sends whose
  planner died before completing the snapshot, and finish sends whose last
  batch ended without noticing.
* ``send_reminders``: enqueue the reminder sends ``newsletter.events.reminders``
  finds due.
* ``poll_bounces``: read the bounce mailbox (IMAP or POP3) when one is configured.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select

from newsletter import deliveries
from newsletter.config import get_settings
from newsletter.db import session_scope
from newsletter.dispatch.batches import enqueue_pending
from newsletter.dispatch.queue import get_queue
from newsletter.events.reminders import create_due_reminders
from newsletter.models import Send, SendStatus, utcnow
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
    """Repair what crashes and broker restarts left behind; returns what it did."""
    settings = get_settings()
    now = now or utcnow()
    stale_claim = now - timedelta(seconds=settings.claim_timeout_seconds)
    with session_scope() as session:
        reclaimed = deliveries.reclaim_stale(session, stale_claim)
        sending = list(session.scalars(select(Send.id).where(Send.status == SendStatus.SENDING)))
        quiet = now - timedelta(seconds=settings.requeue_after_seconds)
        replan = planning_stalled(session, quiet)
    for send_id in replan:  # a planner died before completing the snapshot
        get_queue().enqueue("plan_send", send_id)
    requeued = 0
    for send_id in sending:
        requeued += enqueue_pending(send_id, older_than=quiet)
        finish_if_done(send_id)
    if reclaimed or requeued:
        log.warning("recovery: %s claims taken back, %s rows re-enqueued", reclaimed, requeued)
    return {"reclaimed": int(reclaimed), "requeued": requeued}


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
