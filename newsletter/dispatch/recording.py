"""Recording delivery results: in groups, one transaction each, optionally in the background.

Results are written every :data:`RECORD_EVERY` messages.  While sending goes
well, a group is written by a writer thread while the next group is sent (the
database driver releases the GIL while it waits), with at most one write in
flight; so at most :data:`UNRECORDED_LIMIT` messages of a batch are sent and
not yet recorded, which bounds what a killed worker can cause to be sent
twice.  Each write also tracks the send's run of consecutive failures and
pauses the send past ``NEWSLETTER_PAUSE_AFTER_FAILURES``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, select, text, update

from newsletter.config import get_settings
from newsletter.db import get_engine, insert_ignore
from newsletter.dispatch.queue import get_queue
from newsletter.models import Delivery, EventRecipient, Send, utcnow
from newsletter.suppressions import suppress_address

log = logging.getLogger(__name__)

# Core tables: executemany UPDATEs with per-row bound values need Core, not ORM.
DELIVERIES = cast(Table, Delivery.__table__)
SENDS = cast(Table, Send.__table__)

# Results are written to the store every this many messages (and at the end).
RECORD_EVERY = 25
# With one group being written while the next is sent, this many messages of a
# batch at most are sent and not yet recorded: the most a killed worker can
# cause to be sent twice.
UNRECORDED_LIMIT = 2 * RECORD_EVERY


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
class ResultGroup:
    """Results of up to :data:`RECORD_EVERY` messages, written in one transaction."""

    sent: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    retry: list[dict[str, Any]] = field(default_factory=list)
    suppress: list[tuple[str, str]] = field(default_factory=list)
    event_recipients: list[dict[str, Any]] = field(default_factory=list)
    # For the send's failure streak: whether this group had a success, and the
    # failures since the last success when the group was closed.
    had_success: bool = False
    failures_since_success: int = 0
    size: int = 0


@dataclass(frozen=True)
class WriteOutcome:
    """What writing a group found: the send's status and the rows to retry later."""

    status: str | None
    retry_ids: list[int]
    retry_delay: float


class Recorder:
    """Collects results and writes them a group at a time.

    ``record_in_background`` hands the current group to a writer thread and
    returns at once, so the next messages go out while the store commits
    (its driver releases the GIL while it waits); at most one write is in
    flight, so at most :data:`UNRECORDED_LIMIT` messages of a batch are sent
    and not yet recorded.  ``flush`` writes everything and waits.  Retries
    are enqueued from the calling thread once their rows are written.
    """

    def __init__(self, send_id: int) -> None:
        self.send_id = send_id
        self.group = ResultGroup()
        self.failures_since_success = 0
        self.last_status: str | None = "sending"
        self._writer: ThreadPoolExecutor | None = None
        self._in_flight: Future[WriteOutcome] | None = None

    @property
    def pending_count(self) -> int:
        """Results collected and not yet handed to the writer."""
        return self.group.size

    def add_sent(self, row: Row, message_id: str, event_ids: Sequence[int]) -> None:
        self.group.sent.append({"did": row.delivery_id, "mid": message_id})
        self.group.event_recipients.extend(
            {
                "event_id": e,
                "subscriber_id": row.subscriber_id,
                "first_delivery_id": row.delivery_id,
            }
            for e in event_ids
        )
        self.group.had_success = True
        self.failures_since_success = 0
        self.group.size += 1

    def add_failed(self, row: Row, error: str, *, suppress: bool) -> None:
        self.group.failed.append({"did": row.delivery_id, "err": error[:1000]})
        if suppress:
            self.group.suppress.append((row.email, error))
        self.failures_since_success += 1
        self.group.size += 1

    def add_retry(self, row: Row, error: str, delay: float) -> None:
        self.group.retry.append(
            {
                "did": row.delivery_id,
                "err": error[:1000],
                "due": utcnow() + timedelta(seconds=delay),
                "delay": delay,
            }
        )
        self.failures_since_success += 1
        self.group.size += 1

    def add_skipped(self, delivery_id: int, reason: str) -> None:
        self.group.skipped.append({"did": delivery_id, "err": reason})
        self.group.size += 1

    def _take(self) -> ResultGroup:
        group = self.group
        group.failures_since_success = self.failures_since_success
        self.group = ResultGroup()
        return group

    def _collect(self) -> str | None:
        """Wait for the write in flight (re-raising its error); returns the status it saw."""
        if self._in_flight is not None:
            future, self._in_flight = self._in_flight, None
            outcome = future.result()
            if outcome.retry_ids:
                get_queue().enqueue(
                    "deliver_batch", self.send_id, outcome.retry_ids, countdown=outcome.retry_delay
                )
            self.last_status = outcome.status
        return self.last_status

    def record_in_background(self) -> str | None:
        """Hand the current group to the writer; returns the status the previous write saw."""
        status = self._collect()
        if self._writer is None:
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="recorder")
        self._in_flight = self._writer.submit(_write_group, self.send_id, self._take())
        return status

    def flush(self) -> str | None:
        """Write everything collected and wait; returns the send's status afterwards."""
        self._collect()
        outcome = _write_group(self.send_id, self._take())
        if outcome.retry_ids:
            get_queue().enqueue(
                "deliver_batch", self.send_id, outcome.retry_ids, countdown=outcome.retry_delay
            )
        self.last_status = outcome.status
        return outcome.status

    def close(self) -> None:
        """Stop the writer thread (after its write, which ``flush`` has collected)."""
        if self._writer is not None:
            self._writer.shutdown(wait=True)
            self._writer = None


def _write_group(send_id: int, group: ResultGroup) -> WriteOutcome:
    """Write one group of results in one transaction (runs in the writer thread too).

    Core statements on a plain connection, compiled once: this runs every
    RECORD_EVERY messages in every worker, where an ORM session per group
    cost more CPU than sending the messages.
    """
    with get_engine().begin() as connection:
        _write_results(connection, group, utcnow())
        status = _update_failure_streak(connection, send_id, group)
    return WriteOutcome(
        status=status,
        retry_ids=[r["did"] for r in group.retry],
        retry_delay=max((r["delay"] for r in group.retry), default=0.0),
    )


_BY_ID = DELIVERIES.c.id == bindparam("did")
MARK_SENT = (
    update(DELIVERIES)
    .where(_BY_ID)
    .values(status="sent", message_id=bindparam("mid"), finished_at=bindparam("at"), error=None)
)
MARK_FAILED = (
    update(DELIVERIES)
    .where(_BY_ID)
    .values(
        status="failed",
        error=bindparam("err"),
        finished_at=bindparam("at"),
        attempts=DELIVERIES.c.attempts + 1,
    )
)
MARK_SKIPPED = (
    update(DELIVERIES)
    .where(_BY_ID)
    .values(status="skipped", error=bindparam("err"), finished_at=bindparam("at"))
)
MARK_RETRY = (
    update(DELIVERIES)
    .where(_BY_ID)
    .values(
        status="pending",
        error=bindparam("err"),
        next_attempt_at=bindparam("due"),
        attempts=DELIVERIES.c.attempts + 1,
        claimed_by=None,
        enqueued_at=bindparam("at"),
    )
)
# Reset the failure counter only when it is not already zero, so that in the
# usual case workers do not all update (and lock) the send's row every record.
RESET_STREAK = (
    update(SENDS)
    .where(SENDS.c.id == bindparam("sid"), SENDS.c.consecutive_failures != 0)
    .values(consecutive_failures=0)
)
SEND_STATE = select(SENDS.c.status, SENDS.c.consecutive_failures).where(
    SENDS.c.id == bindparam("sid")
)


# PostgreSQL: the common outcomes of a whole group in one statement each, the
# rows passed as arrays and unnested, rather than one statement per message
# (executemany): PostgreSQL's CPU per message fell by about a third.
PG_MARK_SENT = text(
    "UPDATE deliveries SET status = 'sent', message_id = v.mid, finished_at = :at, error = NULL "
    "FROM unnest(CAST(:dids AS integer[]), CAST(:mids AS varchar[])) AS v(did, mid) "
    "WHERE deliveries.id = v.did"
)
PG_ADD_EVENT_RECIPIENTS = text(
    "INSERT INTO event_recipients (event_id, subscriber_id, first_delivery_id, created_at) "
    "SELECT v.event_id, v.subscriber_id, v.delivery_id, :at FROM unnest("
    "CAST(:event_ids AS integer[]), CAST(:subscriber_ids AS integer[]), "
    "CAST(:delivery_ids AS integer[])) AS v(event_id, subscriber_id, delivery_id) "
    "ON CONFLICT DO NOTHING"
)


def _write_results(connection: Connection, group: ResultGroup, now: datetime) -> None:
    """Write the group's outcomes: arrays on PostgreSQL, executemany elsewhere."""
    bulk = connection.dialect.name == "postgresql"
    if bulk and group.sent:
        connection.execute(
            PG_MARK_SENT,
            {
                "at": now,
                "dids": [r["did"] for r in group.sent],
                "mids": [r["mid"] for r in group.sent],
            },
        )
    for statement, rows, keys in (
        (MARK_SENT, [] if bulk else group.sent, ("did", "mid")),
        (MARK_FAILED, group.failed, ("did", "err")),
        (MARK_SKIPPED, group.skipped, ("did", "err")),
        (MARK_RETRY, group.retry, ("did", "err", "due")),
    ):
        if rows:
            connection.execute(statement, [{"at": now, **{k: r[k] for k in keys}} for r in rows])
    for email, error in group.suppress:
        suppress_address(connection, email, "smtp-rejected", error)
    if bulk and group.event_recipients:
        rows = group.event_recipients
        connection.execute(
            PG_ADD_EVENT_RECIPIENTS,
            {
                "at": now,
                "event_ids": [r["event_id"] for r in rows],
                "subscriber_ids": [r["subscriber_id"] for r in rows],
                "delivery_ids": [r["first_delivery_id"] for r in rows],
            },
        )
    elif group.event_recipients:
        insert_ignore(connection, EventRecipient, group.event_recipients)


def _update_failure_streak(connection: Connection, send_id: int, group: ResultGroup) -> str | None:
    """Track consecutive failures on the send; pause it past the configured limit."""
    streak = group.failures_since_success
    if group.had_success and streak == 0:
        # The usual case: read the state, and write only when a run of
        # failures has to be cleared (one statement per group, not two).
        status, failures = connection.execute(SEND_STATE, {"sid": send_id}).one()
        if failures:
            connection.execute(RESET_STREAK, {"sid": send_id})
        return str(status)
    new_value: Any = streak if group.had_success else SENDS.c.consecutive_failures + streak
    connection.execute(
        update(SENDS).where(SENDS.c.id == send_id).values(consecutive_failures=new_value)
    )
    status, failures = connection.execute(SEND_STATE, {"sid": send_id}).one()
    limit = get_settings().pause_after_failures
    if status == "sending" and failures >= limit:
        connection.execute(
            update(SENDS)
            .where(SENDS.c.id == send_id, SENDS.c.status == "sending")
            .values(
                status="paused",
                status_reason=f"paused after {failures} consecutive failed deliveries; "
                "check the mail server, then resume",
            )
        )
        log.warning("send %s paused after %s consecutive failures", send_id, failures)
        return "paused"
    return str(status)
