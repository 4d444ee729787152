"""The embedded default (no broker): the in-process queue and the worker thread.

A delayed retry waits apart from due work, so one address answering 451 again
and again holds up nothing else.  The end-to-end case runs the real worker
thread against the aiosmtpd server on loopback, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from celery_harness import wait_for
from smtp_server import SMTPTestServer, running_smtp_server
from sqlalchemy import select

from newsletter.config import reset_settings
from newsletter.db import session_scope
from newsletter.dispatch import control
from newsletter.dispatch.embedded import EmbeddedWorker
from newsletter.dispatch.queue import InProcessQueue, in_process_queue
from newsletter.dispatch.runtime import Runtime, set_runtime
from newsletter.ingest import parse_file
from newsletter.models import Delivery
from newsletter.paths import SAMPLES_DIR
from newsletter.sends import counts, create_send, get_send
from newsletter.subscribers import SubscriberInput, upsert
from newsletter.transports.smtp import SMTPTransport
from newsletter.updates import store_update


def test_due_tasks_run_in_time_order_and_delayed_ones_wait_apart(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    queue = InProcessQueue()
    ran: list[tuple[str, tuple[object, ...]]] = []
    monkeypatch.setattr(
        "newsletter.dispatch.queue.task_function",
        lambda name: lambda *args: ran.append((name, args)),
    )
    queue.enqueue("recover", "late", countdown=60)
    queue.enqueue("plan_send", 1)
    queue.enqueue("plan_send", 2)
    started = time.monotonic()
    assert queue.run_due() == 2  # returns at once: the delayed task is not waited for
    assert time.monotonic() - started < 1
    assert ran == [("plan_send", (1,)), ("plan_send", (2,))]
    assert len(queue) == 1 and queue.delayed_count() == 1
    assert queue.seconds_until_due() == pytest.approx(60, abs=1)
    assert queue.wait_for_work(0.05) is False  # nothing due yet


def test_a_waiting_worker_wakes_when_work_arrives(monkeypatch: pytest.MonkeyPatch) -> None:
    queue = InProcessQueue()
    monkeypatch.setattr("newsletter.dispatch.queue.task_function", lambda name: lambda *a: None)
    queue.enqueue("recover", countdown=60)
    woke: list[bool] = []
    waiter = threading.Thread(target=lambda: woke.append(queue.wait_for_work(30)))
    waiter.start()
    queue.enqueue("plan_send", 7)
    waiter.join(timeout=5)
    assert woke == [True]
    # A delayed task becomes due on its own.
    queue.run_due()
    queue.enqueue("dispatch_due", countdown=0.05)
    assert queue.wait_for_work(5) is True
    assert queue.run_due() == 1


@pytest.fixture
def smtp_server() -> Iterator[SMTPTestServer]:
    with running_smtp_server() as server:
        yield server


def _add(address: str, role: str) -> None:
    with session_scope() as session:
        upsert(
            session,
            [SubscriberInput.build(address, name=address.split("@")[0], roles=(role,))],
            default_status="active",
            consent_source="test",
        )


def _start(update_id: int, segment: str) -> int:
    with session_scope() as session:
        send_id = create_send(session, update_id=update_id, segments=[segment]).id
    control.start_if_due(send_id)
    return send_id


def _finished(send_id: int) -> bool:
    with session_scope() as session:
        return get_send(session, send_id).status == "finished"


def test_an_address_answering_451_delays_no_other_send(
    database_url: str, smtp_server: SMTPTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first retry comes 1.5 to 3 s after the 451; the second try is the last.
    monkeypatch.setenv("NEWSLETTER_RETRY_BASE_SECONDS", "3")
    monkeypatch.setenv("NEWSLETTER_MAX_ATTEMPTS", "2")
    reset_settings()
    smtp_server.refuse("stuck@example.org", 451, "4.2.1 mailbox busy, try later")
    _add("stuck@example.org", "dcs")
    for i in range(3):
        _add(f"reader{i}@example.org", "lead-member")
    with session_scope() as session:
        update_id = store_update(
            session, parse_file(SAMPLES_DIR / "north-east-2017-04.txt").update
        ).id
    old = set_runtime(Runtime(transport=SMTPTransport(smtp_server.url)))
    # The periodic beat work is far away: only the wake on enqueue can start sends.
    worker = EmbeddedWorker(interval=60)
    worker.start()
    try:
        stuck = _start(update_id, "dcs")

        def waiting_for_retry() -> bool:
            with session_scope() as session:
                row = session.scalars(select(Delivery).where(Delivery.send_id == stuck)).first()
                return row is not None and row.status == "pending" and row.attempts == 1

        wait_for(waiting_for_retry, timeout=10, what="the 451 retry to be waiting", interval=0.01)
        other = _start(update_id, "lead-member")
        wait_for(
            lambda: _finished(other), timeout=1.0, what="the other send to finish", interval=0.01
        )
        assert not _finished(stuck)  # still waiting for its retry
        assert sorted(m.rcpt_tos[0] for m in smtp_server.messages) == [
            f"reader{i}@example.org" for i in range(3)
        ]
        # The retry still happens in its time, and the second 451 is the last try.
        wait_for(lambda: _finished(stuck), timeout=10, what="the 451 send to finish", interval=0.01)
        with session_scope() as session:
            assert counts(session, stuck).failed == 1
            error = session.scalars(select(Delivery.error).where(Delivery.send_id == stuck)).one()
        assert error is not None and error.startswith("gave up after 2 tries: 451")
    finally:
        worker.stop()
        worker.join(timeout=10)
        set_runtime(old)
    assert not worker.is_alive()
    assert len(in_process_queue()) == 0


def test_progress_counts_move_with_each_few_messages(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A slow send (5 messages a second) shows its count rising in small steps, not at the end.

    Results are recorded at least every half second (or every 25): without that,
    20 messages would reach the store all at once when the batch ends.
    """
    from newsletter.transports.memory import InMemoryTransport

    monkeypatch.setenv("NEWSLETTER_RATE_PER_SECOND", "5")
    reset_settings()
    for i in range(20):
        _add(f"reader{i}@example.org", "dcs")
    with session_scope() as session:
        update_id = store_update(
            session, parse_file(SAMPLES_DIR / "north-east-2017-04.txt").update
        ).id
    memory = InMemoryTransport()
    old = set_runtime(Runtime(transport=memory))
    worker = EmbeddedWorker(interval=60)
    worker.start()
    seen: set[int] = set()
    try:
        send_id = _start(update_id, "dcs")

        def recorded() -> bool:
            with session_scope() as session:
                c = counts(session, send_id)
            if 0 < c.sent < 20:
                seen.add(c.sent)
            return c.sent == 20

        wait_for(recorded, timeout=30, what="a partial count to be recorded", interval=0.01)
    finally:
        worker.stop()
        worker.join(timeout=10)
        set_runtime(old)
    # Twenty messages at five a second (four seconds): the store saw partial counts on
    # the way, each standing for about a second; recorded only every 25, it would
    # have gone from 0 to 20 at the end.
    assert seen, "no partial count was ever recorded"
