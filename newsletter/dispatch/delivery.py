"""Delivering one batch: claim rows, send each message, record each result.

The contract (docs/architecture.md, "Rows before tasks"): a batch claims its
rows with one conditional UPDATE (``pending`` → ``claimed``, or rows this
very task claimed before its worker died; ``newsletter.deliveries.claim``),
so a row is only ever in one batch, and only the run holding the task's
exclusive lease claims (``newsletter.dispatch.leases``: a copy of a task
that the broker hands out while its first run still sends ends at once);
results are recorded in groups (``newsletter.dispatch.recording``), and
each accepted message is noted at once in the result journal
(``newsletter.dispatch.journal``), so a worker killed mid-batch can cause
at most the message on its SMTP connection at that instant to be sent
twice, with the same Message-ID.  Per recipient the work is a token
signature and a splice: the message template is built once per (send,
segment) per process.

Outcomes: sent; skipped (unsubscribed or suppressed by now, or the send was
cancelled); failed (5xx, or retries exhausted); or back to pending with an
exponential, jittered delay (4xx and connection errors).  A 5xx naming the
recipient also suppresses the address and marks the subscriber bounced.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Sequence
from typing import cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from newsletter import deliveries, sends
from newsletter.config import get_settings
from newsletter.db import id_in, session_scope
from newsletter.dispatch.batches import enqueue_batch
from newsletter.dispatch.journal import settle
from newsletter.dispatch.leases import Lease, task_book
from newsletter.dispatch.ratelimit import RateLimitedError
from newsletter.dispatch.recording import Recorder, Row
from newsletter.dispatch.runtime import Runtime, get_runtime
from newsletter.message import MessageError, MessageTemplate, Recipient
from newsletter.models import (
    Delivery,
    DeliveryStatus,
    Send,
    SendEdition,
    SendStatus,
    Subscriber,
    Suppression,
)
from newsletter.transports import TransportError

log = logging.getLogger(__name__)

DELIVERIES = cast(Table, Delivery.__table__)


def backoff_seconds(attempts: int) -> float:
    """Delay before retry number ``attempts`` (1-based): exponential, capped, jittered.

    Full jitter between half and all of ``base * 2**(attempts-1)`` spreads the
    retries of a throttled batch so they do not all return at once.
    """
    settings = get_settings()
    ceiling = min(settings.retry_base_seconds * 2 ** max(attempts - 1, 0), 3600.0)
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311 (jitter, not a secret)


def load_rows(session: Session, ids: Sequence[int]) -> list[Row]:
    """The claimed rows with their subscriber and suppression state, in id order."""
    query = (
        select(
            Delivery.id,
            Delivery.segment,
            Delivery.attempts,
            Subscriber.id,
            Subscriber.email,
            Subscriber.name,
            Subscriber.status,
            Suppression.id.is_not(None),
        )
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .outerjoin(Suppression, Suppression.email_key == Subscriber.email_key)
        .where(id_in(session, Delivery.id, ids))
        .order_by(Delivery.id)
    )
    return [Row(*values) for values in session.execute(query)]


def deliver_batch(send_id: int, delivery_ids: list[int], task_id: str | None = None) -> None:
    """Send the batch's messages and record every outcome (see the module docstring).

    The batch holds a lease (``newsletter.dispatch.leases``) from before it
    claims until it ends, and sends only while the lease is fresh; a run that
    finds another run of the same task holding the lease returns at once,
    claiming and sending nothing.  Rows the result journal names went out
    already (this task ran before and its worker died): they are recorded as
    sent, not sent again.
    """
    runtime = get_runtime()
    task_id = task_id or uuid.uuid4().hex
    lease = Lease(task_book(), task_id, get_settings().lease_seconds)
    if not lease.start():
        # Another run of this task holds its lease (the broker handed out a copy
        # while the first still runs): its rows are that run's, or recovery's
        # once its lease lapses.  This copy sends nothing.
        return
    try:
        with session_scope() as session:
            status = session.scalar(select(Send.status).where(Send.id == send_id))
            if status != SendStatus.SENDING:
                return  # paused: rows stay pending for resume; cancelled: already skipped
            claimed = deliveries.claim(session, send_id, delivery_ids, task_id)
        if claimed:
            already = settle(send_id, claimed)
            claimed = [i for i in claimed if i not in already]
        if claimed:
            _send_rows(runtime, send_id, claimed, lease)
    finally:
        lease.end()
    sends.finish_if_done(send_id)


def _send_rows(runtime: Runtime, send_id: int, claimed: list[int], lease: Lease) -> None:
    settings = get_settings()
    recorder = Recorder(send_id, runtime.journal)
    with session_scope() as session:
        rows = load_rows(session, claimed)
        event_ids = {
            e.segment: [int(i) for i in e.event_ids]
            for e in session.scalars(select(SendEdition).where(SendEdition.send_id == send_id))
        }
        segments = {row.segment for row in rows}
        templates = {s: runtime.template(session, send_id, s) for s in segments}

    done = 0
    try:
        for done, row in enumerate(rows, start=1):
            if not lease.valid():
                # Recovery may be taking these rows back: record what went
                # out and leave the rest to it, claimed.
                log.warning("send %s: lease lapsed; %s rows left to recovery", send_id,
                            len(rows) - done + 1)  # fmt: skip
                recorder.flush()
                return
            if row.status != "active":
                recorder.add_skipped(row.delivery_id, f"subscriber is {row.status}")
            elif row.suppressed:
                recorder.add_skipped(row.delivery_id, "address is suppressed")
            else:
                try:
                    runtime.limiter.acquire()
                except RateLimitedError as exc:
                    later = [r.delivery_id for r in rows[done - 1 :]]
                    deliveries.release(send_id, later, DeliveryStatus.PENDING)
                    recorder.flush()
                    enqueue_batch(send_id, later, countdown=exc.retry_after)
                    return
                if not lease.valid():
                    # The wait for the rate limit outlasted the lease: checked
                    # again so that nothing is sent after the last check a
                    # second run's claim is timed against (leases module).
                    recorder.flush()
                    return
                _send_one(
                    runtime,
                    templates[row.segment],
                    row,
                    event_ids.get(row.segment, []),
                    recorder,
                    send_id,
                    settings.max_attempts,
                )
            if recorder.due():
                status = _record(recorder)
                if status != SendStatus.SENDING:
                    _stop_early(send_id, recorder, status, [r.delivery_id for r in rows[done:]])
                    return
        recorder.flush()
    except Exception:
        # Whatever failed (the store, the limiter's Redis, the broker), the
        # results already obtained are recorded and the rows not yet tried go
        # back to pending for recovery: otherwise messages sent since the last
        # record would be sent again, and the rest would wait out the claim timeout.
        _salvage(send_id, recorder, [r.delivery_id for r in rows[max(done - 1, 0) :]])
        raise
    finally:
        recorder.close()


def _record(recorder: Recorder) -> str | None:
    """Record the current group; returns the send's status as last seen.

    While all goes well the store writes overlap the next sends; once failures
    start, record and read the send's state at once, so that a self-pause stops
    the batch without failing another group.
    """
    if recorder.failures_since_success:
        return recorder.flush()
    return recorder.record_in_background()


def _stop_early(send_id: int, recorder: Recorder, status: str | None, rest: list[int]) -> None:
    """The send was paused or cancelled mid-batch: record, then hand back or skip the rest."""
    recorder.flush()
    if status == SendStatus.CANCELLED:
        deliveries.release(send_id, rest, DeliveryStatus.SKIPPED)
    else:
        hand_back_after_pause(send_id, rest)


def _salvage(send_id: int, recorder: Recorder, untried: list[int]) -> None:
    """Record what ``recorder`` holds and release ``untried`` rows, as far as possible."""
    try:
        recorder.flush()
    except Exception:
        log.exception("send %s: could not record results after a failed batch", send_id)
    try:
        deliveries.release(send_id, untried, DeliveryStatus.PENDING, forget_task=True)
    except Exception:
        log.exception("send %s: could not release rows after a failed batch", send_id)


def _send_one(
    runtime: Runtime,
    template: MessageTemplate,
    row: Row,
    event_ids: list[int],
    recorder: Recorder,
    send_id: int,
    max_attempts: int,
) -> None:
    """Build one recipient's message, send it and record what happened."""
    try:
        recipient = Recipient.for_subscriber(
            row.email, row.name or None, row.subscriber_id, row.delivery_id, send_id=send_id
        )
        message = template.outgoing(recipient)
        runtime.transport.send(message)
        # At once, before anything else can fail: the server has the message.
        runtime.journal.sent(send_id, row.delivery_id, message.message_id)
    except TransportError as exc:
        error = f"{exc.code or ''} {exc}".strip()
        if exc.permanent:
            recorder.add_failed(row, error, suppress=exc.recipient is not None)
        elif row.attempts + 1 >= max_attempts:
            recorder.add_failed(
                row, f"gave up after {row.attempts + 1} tries: {error}", suppress=False
            )
        else:
            recorder.add_retry(row, error, backoff_seconds(row.attempts + 1))
    except MessageError as exc:
        recorder.add_failed(row, f"message refused: {exc}", suppress=False)
    else:
        recorder.add_sent(row, message.message_id, event_ids)


def hand_back_after_pause(send_id: int, ids: list[int]) -> None:
    """Give a paused batch's untried rows back, and queue them if a resume came meanwhile.

    A resume enqueues the rows that are pending when it runs.  If it ran
    after this batch saw the pause but before the rows were released, it
    missed them; so after releasing, the batch looks again and, finding the
    send running, enqueues them itself (an extra enqueue is harmless: claims
    are conditional).
    """
    deliveries.release(send_id, ids, DeliveryStatus.PENDING)
    with session_scope() as session:
        status = session.scalar(select(Send.status).where(Send.id == send_id))
    if status == SendStatus.SENDING and ids:
        enqueue_batch(send_id, ids)
