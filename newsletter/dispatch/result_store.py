"""Writing one group of delivery results to the store, in one transaction.

The statements behind :class:`newsletter.dispatch.recording.Recorder`: mark
each delivery sent, failed, skipped or due for retry, suppress addresses a
server refused for good, remember who received an event's invitation, and
keep the send's run of consecutive failures, pausing the send past
``NEWSLETTER_PAUSE_AFTER_FAILURES``.  Core statements on a plain connection,
compiled once: this runs every group of messages in every worker, where an
ORM session per group cost more CPU than sending the messages.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Engine, Table, bindparam, select, text, update
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from newsletter import sends
from newsletter.config import get_settings
from newsletter.db import get_engine, insert_ignore
from newsletter.deliveries import (
    MARK_FAILED,
    MARK_RETRY,
    MARK_SENT,
    MARK_SKIPPED,
    PG_MARK_SENT,
    PG_MARK_SENT_SQL,
)
from newsletter.models import EventRecipient, Send, SendStatus, utcnow
from newsletter.suppressions import suppress_address

log = logging.getLogger(__name__)

# Core table: executemany UPDATEs with per-row bound values need Core, not ORM.
SENDS = cast(Table, Send.__table__)


@dataclass
class ResultGroup:
    """Results of a group of messages, written in one transaction."""

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
    sent_ids: list[int] = field(default_factory=list)


# Waits between tries of a group whose write lost its database connection (a
# restart, a terminated backend, a failover): about 16 s in all, after which
# the error goes up and the results stay in the journal for recovery.
WRITE_RETRY_DELAYS = (0.2, 0.5, 1.0, 2.0, 4.0, 8.0)


def connection_lost(exc: BaseException) -> bool:
    """Whether ``exc`` means the database connection failed (worth another try)."""
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def write_group(send_id: int, group: ResultGroup) -> WriteOutcome:
    """Write one group of results in one transaction; returns what the send looks like now.

    A write that loses its connection is tried again on a fresh one after
    :data:`WRITE_RETRY_DELAYS`; the transaction makes a retry all or nothing,
    and every statement only moves rows still claimed, so a retry after a
    commit whose answer was lost changes nothing twice.  Runs in the
    recorder's writer thread as well as the sending one.
    """
    for delay in (*WRITE_RETRY_DELAYS, None):
        try:
            return _write_once(send_id, group)
        except Exception as exc:
            if delay is None or not connection_lost(exc):
                raise
            log.warning("send %s: recording failed (%s); again in %.1f s", send_id, exc, delay)
            time.sleep(delay)
    raise AssertionError("unreachable")


def _write_once(send_id: int, group: ResultGroup) -> WriteOutcome:
    engine = get_engine()
    status: str | None
    if engine.dialect.name == "postgresql" and _all_sent(group):
        status = _write_sent_group(engine, send_id, group)
    else:
        with engine.begin() as connection:
            _write_results(connection, group, utcnow())
            status = _update_failure_streak(connection, send_id, group)
    return WriteOutcome(
        status=status,
        retry_ids=[r["did"] for r in group.retry],
        retry_delay=max((r["delay"] for r in group.retry), default=0.0),
        sent_ids=[r["did"] for r in group.sent],
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


# PostgreSQL: event recipients of a whole group in one statement, the rows
# passed as arrays and unnested (see newsletter.deliveries.PG_MARK_SENT).
PG_ADD_EVENT_RECIPIENTS_SQL = (
    "INSERT INTO event_recipients (event_id, subscriber_id, first_delivery_id, created_at) "
    "SELECT v.event_id, v.subscriber_id, v.delivery_id, :at FROM unnest("
    "CAST(:event_ids AS integer[]), CAST(:subscriber_ids AS integer[]), "
    "CAST(:delivery_ids AS integer[])) AS v(event_id, subscriber_id, delivery_id) "
    "ON CONFLICT DO NOTHING"
)
PG_ADD_EVENT_RECIPIENTS = text(PG_ADD_EVENT_RECIPIENTS_SQL)

# PostgreSQL, the usual group (every message sent): the rows marked sent, the
# event recipients added and the send's state read in one statement, which
# is one transaction by itself.  The five round trips of a transaction
# (BEGIN, three statements, COMMIT) cost the writer about 1 ms of CPU per
# group, PostgreSQL more besides (docs/performance.md).
PG_RECORD_SENT = text(
    # Both parts are this package's own constant SQL: nothing to inject.
    f"WITH marked AS ({PG_MARK_SENT_SQL}), "  # noqa: S608
    f"invited AS ({PG_ADD_EVENT_RECIPIENTS_SQL}) "
    "SELECT status, consecutive_failures FROM sends WHERE id = :sid"
)


def _all_sent(group: ResultGroup) -> bool:
    """Whether the group holds only messages sent, with no failure before them."""
    return bool(
        group.sent
        and group.had_success
        and not group.failures_since_success
        and not (group.failed or group.skipped or group.retry or group.suppress)
    )


def _write_sent_group(engine: Engine, send_id: int, group: ResultGroup) -> str:
    """Write an all-sent group with :data:`PG_RECORD_SENT`; returns the send's status.

    A run of failures left by another worker is cleared afterwards, as
    :func:`_update_failure_streak` does (rarely: only after failures).
    """
    rows = group.event_recipients
    params = {
        "at": utcnow(),
        "sid": send_id,
        "dids": [r["did"] for r in group.sent],
        "mids": [r["mid"] for r in group.sent],
        "event_ids": [r["event_id"] for r in rows],
        "subscriber_ids": [r["subscriber_id"] for r in rows],
        "delivery_ids": [r["first_delivery_id"] for r in rows],
    }
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        status, failures = connection.execute(PG_RECORD_SENT, params).one()
        if failures:
            connection.execute(RESET_STREAK, {"sid": send_id})
    return str(status)


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
    elif group.sent:
        connection.execute(MARK_SENT, [{"at": now, **r} for r in group.sent])
    for statement, rows, keys in (
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
    if status == SendStatus.SENDING and failures >= limit:
        sends.pause_after_failures(connection, send_id, failures)
        log.warning("send %s paused after %s consecutive failures", send_id, failures)
        return SendStatus.PAUSED
    return str(status)
