"""Enqueueing a send's pending deliveries in batches (finishing a send is ``sends``).

Pending rows are read in id order with keyset pagination (never OFFSET,
never all at once: docs/architecture.md, "Keyset batches") and handed to
``deliver_batch`` tasks a few hundred at a time.  Enqueueing twice is
harmless: a batch claims its rows with a conditional UPDATE and skips rows
someone else holds.

Every batch task gets its id here, and its pending rows are stamped with it
(``claimed_by``) before the task is published; the task's state is then noted
in ``newsletter.dispatch.leases``, so recovery can tell rows waiting in a
healthy queue (left alone) from rows whose task was lost (re-enqueued).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from newsletter.config import get_settings
from newsletter.db import id_in, session_scope
from newsletter.dispatch.leases import task_book
from newsletter.dispatch.queue import get_queue
from newsletter.models import Delivery, utcnow

log = logging.getLogger(__name__)


def stamp(
    session: Session, ids: Sequence[int], task_id: str, countdown: float | None = None
) -> None:
    """Note on the pending rows among ``ids`` that task ``task_id`` is queued for them.

    Rows due for a retry after the task runs (in ``countdown`` seconds) keep
    their retry's task: this one will not claim them.
    """
    now = utcnow()
    runs_at = now + timedelta(seconds=(countdown or 0.0) + 1.0)
    session.execute(
        update(Delivery)
        .where(
            id_in(session, Delivery.id, ids),
            Delivery.status == "pending",
            or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= runs_at),
        )
        .values(enqueued_at=now, claimed_by=task_id)
        .execution_options(synchronize_session=False)
    )


def publish(send_id: int, ids: list[int], task_id: str, countdown: float | None = None) -> None:
    """Publish the ``deliver_batch`` task of rows already stamped with ``task_id``."""
    get_queue().enqueue("deliver_batch", send_id, ids, countdown=countdown, task_id=task_id)
    book = task_book()
    if book is not None:
        try:
            book.queued([task_id], countdown)
        except Exception as exc:
            log.warning("send %s: could not note task %s as queued: %s", send_id, task_id, exc)


def enqueue_batch(send_id: int, ids: list[int], countdown: float | None = None) -> str:
    """Stamp the pending rows among ``ids`` with a new task id and publish it; returns the id."""
    task_id = uuid.uuid4().hex
    if ids:
        with session_scope() as session:
            stamp(session, ids, task_id, countdown)
        publish(send_id, ids, task_id, countdown)
    return task_id


def enqueue_pending(
    send_id: int,
    *,
    older_than: datetime | None = None,
    lost_tasks: Collection[str] | None = None,
    after_id: int = 0,
) -> int:
    """Enqueue every pending delivery of the send in batches; returns rows enqueued.

    Recovery narrows the rows: with ``older_than``, only rows last enqueued
    before then (or never); with ``lost_tasks``, only rows stamped with one of
    those task ids or with none.  With ``after_id``, only rows with a greater
    id: the planner uses it to enqueue the rest of a snapshot without the
    first rows it enqueued already.  The rows are stamped (``enqueued_at``, and
    the new task's id in ``claimed_by``) before the tasks are sent, in
    committed transactions, so a task never runs before its rows say they are
    queued.
    """
    batch_size = get_settings().batch_size
    last_id = after_id
    total = 0
    while True:
        with session_scope() as session:
            query = (
                select(Delivery.id)
                .where(
                    Delivery.send_id == send_id,
                    Delivery.status == "pending",
                    Delivery.id > last_id,
                )
                .order_by(Delivery.id)
                .limit(batch_size)
            )
            if older_than is not None:
                query = query.where(
                    or_(Delivery.enqueued_at.is_(None), Delivery.enqueued_at < older_than)
                )
            if lost_tasks is not None:
                query = query.where(
                    or_(Delivery.claimed_by.is_(None), Delivery.claimed_by.in_(list(lost_tasks)))
                )
            ids = list(session.scalars(query))
            if not ids:
                return total
            task_id = uuid.uuid4().hex
            stamp(session, ids, task_id)
        publish(send_id, ids, task_id)
        total += len(ids)
        last_id = ids[-1]
