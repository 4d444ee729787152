"""Enqueueing a send's pending deliveries in batches (finishing a send is ``sends``).

Pending rows are read in id order with keyset pagination (never OFFSET,
never all at once: docs/architecture.md, "Keyset batches") and handed to
``deliver_batch`` tasks a few hundred at a time.  Enqueueing twice is
harmless: a batch claims its rows with a conditional UPDATE and skips rows
someone else holds.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select, update

from newsletter.config import get_settings
from newsletter.db import id_in, session_scope
from newsletter.dispatch.queue import get_queue
from newsletter.models import Delivery, utcnow


def enqueue_pending(send_id: int, *, older_than: datetime | None = None, after_id: int = 0) -> int:
    """Enqueue every pending delivery of the send in batches; returns rows enqueued.

    With ``older_than``, only rows last enqueued before then (or never) are
    taken: recovery uses it to re-enqueue what a lost broker forgot.  With
    ``after_id``, only rows with a greater id: the planner uses it to enqueue
    the rest of a snapshot without the first rows it enqueued already.  The
    rows' ``enqueued_at`` is stamped before the tasks are sent, in committed
    transactions, so a task never runs before its rows say they are queued.
    """
    batch_size = get_settings().batch_size
    queue = get_queue()
    last_id = after_id
    total = 0
    while True:
        now = utcnow()
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
            ids = list(session.scalars(query))
            if not ids:
                return total
            session.execute(
                update(Delivery)
                .where(id_in(session, Delivery.id, ids))
                .values(enqueued_at=now)
                .execution_options(synchronize_session=False)
            )
        queue.enqueue("deliver_batch", send_id, ids)
        total += len(ids)
        last_id = ids[-1]
