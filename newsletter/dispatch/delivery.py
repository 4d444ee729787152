"""Delivering one batch: claim rows, send each message, record each result.

The contract (DESIGN rule 1): a batch claims its rows with one conditional
UPDATE (``pending`` → ``claimed``, or rows this very task claimed before its
worker died), so a row is only ever in one batch; results are recorded every
:data:`RECORD_EVERY` messages, which bounds how many messages can be sent
twice if a worker is killed (those sent but not yet recorded).  Per recipient
the work is a token signature and a splice: the message template is built
once per (send, segment) per process.

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
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from newsletter.config import get_settings
from newsletter.db import insert_ignore, session_scope
from newsletter.dispatch.batches import finish_if_done
from newsletter.dispatch.queue import get_queue
from newsletter.dispatch.ratelimit import RateLimitedError
from newsletter.dispatch.runtime import Runtime, get_runtime
from newsletter.message import MessageError, Recipient
from newsletter.models import (
    Delivery,
    EventRecipient,
    Send,
    SendEdition,
    Subscriber,
    Suppression,
    utcnow,
)
from newsletter.suppressions import suppress_address
from newsletter.transports import TransportError

log = logging.getLogger(__name__)

# Core tables: executemany UPDATEs with per-row bound values need Core, not ORM.
DELIVERIES = cast(Table, Delivery.__table__)
SENDS = cast(Table, Send.__table__)

# Results are written to the store every this many messages (and at the end).
RECORD_EVERY = 25


@dataclass(frozen=True)
class Row:
    """A claimed delivery with what sending it needs."""

    delivery_id: int
    segment: str
    attempts: int
    subscriber_id: int
    email: str
    name: str
    status: str
    suppressed: bool


@dataclass
class Recorder:
    """Collects results and writes them in one transaction per flush."""

    send_id: int
    sent: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    retry: list[dict[str, Any]] = field(default_factory=list)
    suppress: list[tuple[str, str]] = field(default_factory=list)
    event_recipients: list[dict[str, Any]] = field(default_factory=list)
    failures_since_success: int = 0
    had_success: bool = False
    pending_count: int = 0

    def add_sent(self, row: Row, message_id: str, event_ids: Sequence[int]) -> None:
        self.sent.append({"did": row.delivery_id, "mid": message_id})
        self.event_recipients.extend(
            {
                "event_id": e,
                "subscriber_id": row.subscriber_id,
                "first_delivery_id": row.delivery_id,
            }
            for e in event_ids
        )
        self.had_success = True
        self.failures_since_success = 0
        self.pending_count += 1

    def add_failed(self, row: Row, error: str, *, suppress: bool) -> None:
        self.failed.append({"did": row.delivery_id, "err": error[:1000]})
        if suppress:
            self.suppress.append((row.email, error))
        self.failures_since_success += 1
        self.pending_count += 1

    def add_retry(self, row: Row, error: str, delay: float) -> None:
        self.retry.append(
            {
                "did": row.delivery_id,
                "err": error[:1000],
                "due": utcnow() + timedelta(seconds=delay),
                "delay": delay,
            }
        )
        self.failures_since_success += 1
        self.pending_count += 1

    def add_skipped(self, delivery_id: int, reason: str) -> None:
        self.skipped.append({"did": delivery_id, "err": reason})
        self.pending_count += 1

    def flush(self) -> str | None:
        """Write the collected results; returns the send's status afterwards."""
        now = utcnow()
        retry_ids: list[int] = [r["did"] for r in self.retry]
        retry_delay = max((r["delay"] for r in self.retry), default=0.0)
        with session_scope() as session:
            _write_results(session, self, now)
            status = _update_failure_streak(session, self)
        self.sent, self.failed, self.skipped, self.retry = [], [], [], []
        self.suppress, self.event_recipients = [], []
        self.had_success = False
        self.pending_count = 0
        if retry_ids:
            get_queue().enqueue("deliver_batch", self.send_id, retry_ids, countdown=retry_delay)
        return status


def _write_results(session: Session, recorder: Recorder, now: Any) -> None:
    table = DELIVERIES
    by_id = table.c.id == bindparam("did")
    if recorder.sent:
        session.execute(
            update(table)
            .where(by_id)
            .values(status="sent", message_id=bindparam("mid"), finished_at=now, error=None),
            recorder.sent,
        )
    if recorder.failed:
        session.execute(
            update(table)
            .where(by_id)
            .values(
                status="failed",
                error=bindparam("err"),
                finished_at=now,
                attempts=table.c.attempts + 1,
            ),
            recorder.failed,
        )
    if recorder.skipped:
        session.execute(
            update(table)
            .where(by_id)
            .values(status="skipped", error=bindparam("err"), finished_at=now),
            recorder.skipped,
        )
    if recorder.retry:
        session.execute(
            update(table)
            .where(by_id)
            .values(
                status="pending",
                error=bindparam("err"),
                next_attempt_at=bindparam("due"),
                attempts=table.c.attempts + 1,
                claimed_by=None,
                enqueued_at=now,
            ),
            [{k: r[k] for k in ("did", "err", "due")} for r in recorder.retry],
        )
    for email, error in recorder.suppress:
        suppress_address(session, email, "smtp-rejected", error)
    insert_ignore(session, EventRecipient, recorder.event_recipients)


def _update_failure_streak(session: Session, recorder: Recorder) -> str | None:
    """Track consecutive failures on the send; pause it past the configured limit."""
    limit = get_settings().pause_after_failures
    streak = recorder.failures_since_success
    send_table = SENDS
    if recorder.had_success:
        new_value: Any = streak
    else:
        new_value = send_table.c.consecutive_failures + streak
    session.execute(
        update(send_table)
        .where(send_table.c.id == recorder.send_id)
        .values(consecutive_failures=new_value)
    )
    current = session.execute(
        select(Send.status, Send.consecutive_failures).where(Send.id == recorder.send_id)
    ).one()
    status, failures = current
    if status == "sending" and failures >= limit:
        session.execute(
            update(send_table)
            .where(send_table.c.id == recorder.send_id, send_table.c.status == "sending")
            .values(
                status="paused",
                status_reason=f"paused after {failures} consecutive failed deliveries; "
                "check the mail server, then resume",
            )
        )
        log.warning("send %s paused after %s consecutive failures", recorder.send_id, failures)
        return "paused"
    return str(status)


def backoff_seconds(attempts: int) -> float:
    """Delay before retry number ``attempts`` (1-based): exponential, capped, jittered.

    Full jitter between half and all of ``base * 2**(attempts-1)`` spreads the
    retries of a throttled batch so they do not all return at once.
    """
    settings = get_settings()
    ceiling = min(settings.retry_base_seconds * 2 ** max(attempts - 1, 0), 3600.0)
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311 (jitter, not a secret)


def claim(session: Session, send_id: int, ids: Sequence[int], task_id: str) -> list[int]:
    """Claim the batch's rows that are pending and due (or already ours); returns their ids."""
    now = utcnow()
    table = DELIVERIES
    result = session.execute(
        update(table)
        .where(
            table.c.id.in_(list(ids)),
            table.c.send_id == send_id,
            or_(
                (table.c.status == "pending")
                & or_(table.c.next_attempt_at.is_(None), table.c.next_attempt_at <= now),
                (table.c.status == "claimed") & (table.c.claimed_by == task_id),
            ),
        )
        .values(status="claimed", claimed_at=now, claimed_by=task_id)
        .returning(table.c.id)
    )
    return sorted(int(i) for i in result.scalars())


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
        .where(Delivery.id.in_(list(ids)))
        .order_by(Delivery.id)
    )
    return [Row(*values) for values in session.execute(query)]


def deliver_batch(send_id: int, delivery_ids: list[int], task_id: str | None = None) -> None:
    """Send the batch's messages and record every outcome (see the module docstring)."""
    runtime = get_runtime()
    task_id = task_id or uuid.uuid4().hex
    with session_scope() as session:
        status = session.scalar(select(Send.status).where(Send.id == send_id))
        if status != "sending":
            return  # paused: rows stay pending for resume; cancelled: already skipped
        claimed = claim(session, send_id, delivery_ids, task_id)
    if claimed:
        _send_rows(runtime, send_id, claimed)
    finish_if_done(send_id)


def _send_rows(runtime: Runtime, send_id: int, claimed: list[int]) -> None:
    settings = get_settings()
    recorder = Recorder(send_id)
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
            if row.status != "active":
                recorder.add_skipped(row.delivery_id, f"subscriber is {row.status}")
            elif row.suppressed:
                recorder.add_skipped(row.delivery_id, "address is suppressed")
            else:
                try:
                    runtime.limiter.acquire()
                except RateLimitedError as exc:
                    _release(send_id, [r.delivery_id for r in rows[done - 1 :]], "pending")
                    recorder.flush()
                    get_queue().enqueue(
                        "deliver_batch",
                        send_id,
                        [r.delivery_id for r in rows[done - 1 :]],
                        countdown=exc.retry_after,
                    )
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
            if recorder.pending_count >= RECORD_EVERY:
                status = recorder.flush()
                if status != "sending":
                    rest = [r.delivery_id for r in rows[done:]]
                    if status == "cancelled":
                        _release(send_id, rest, "skipped")
                    else:
                        hand_back_after_pause(send_id, rest)
                    return
        recorder.flush()
    except Exception:
        # Whatever failed (the store, the limiter's Redis, the broker), the
        # results already obtained are recorded and the rows not yet tried go
        # back to pending for recovery: otherwise messages sent since the last
        # record would be sent again, and the rest would wait out the claim timeout.
        _salvage(send_id, recorder, [r.delivery_id for r in rows[max(done - 1, 0) :]])
        raise


def _salvage(send_id: int, recorder: Recorder, untried: list[int]) -> None:
    """Record what ``recorder`` holds and release ``untried`` rows, as far as possible."""
    try:
        recorder.flush()
    except Exception:
        log.exception("send %s: could not record results after a failed batch", send_id)
    try:
        _release(send_id, untried, "pending", forget_task=True)
    except Exception:
        log.exception("send %s: could not release rows after a failed batch", send_id)


def _send_one(
    runtime: Runtime,
    template: Any,
    row: Row,
    event_ids: list[int],
    recorder: Recorder,
    send_id: int,
    max_attempts: int,
) -> None:
    try:
        recipient = Recipient.for_subscriber(
            row.email, row.name or None, row.subscriber_id, row.delivery_id, send_id=send_id
        )
        message = template.outgoing(recipient)
        runtime.transport.send(message)
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


def _release(send_id: int, ids: list[int], to: str, *, forget_task: bool = False) -> None:
    """Give claimed rows back (``pending``) or close them (``skipped``, send cancelled).

    ``forget_task`` says no task will come for the rows, so recovery should
    re-enqueue them without waiting for their last enqueue to grow old.
    """
    if not ids:
        return
    values: dict[str, Any] = {"status": to, "claimed_by": None}
    if forget_task:
        values["enqueued_at"] = None
    if to == "skipped":
        values.update(error="send cancelled", finished_at=utcnow())
    with session_scope() as session:
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(ids), Delivery.send_id == send_id, Delivery.status == "claimed")
            .values(**values)
            .execution_options(synchronize_session=False)
        )


def hand_back_after_pause(send_id: int, ids: list[int]) -> None:
    """Give a paused batch's untried rows back, and queue them if a resume came meanwhile.

    A resume enqueues the rows that are pending when it runs.  If it ran
    after this batch saw the pause but before the rows were released, it
    missed them; so after releasing, the batch looks again and, finding the
    send running, enqueues them itself (an extra enqueue is harmless: claims
    are conditional).
    """
    _release(send_id, ids, "pending")
    with session_scope() as session:
        status = session.scalar(select(Send.status).where(Send.id == send_id))
    if status == "sending" and ids:
        get_queue().enqueue("deliver_batch", send_id, ids)


def pending_total(session: Session, send_id: int) -> int:
    """Rows of the send not yet finished (pending or claimed)."""
    return int(
        session.scalar(
            select(func.count(Delivery.id)).where(
                Delivery.send_id == send_id, Delivery.status.in_(("pending", "claimed"))
            )
        )
        or 0
    )
