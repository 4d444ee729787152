"""The result journal and task leases against a real redis-server and PostgreSQL.

What recovery relies on, checked on the real parts: journal writes reach
Redis even when the writing process is killed the next instant; settling the
journal records those rows as sent with their Message-ID; a lease lapses when
its holder dies and recovery then takes its rows back; rows whose batch waits
in the queue are left alone, and rows whose batch was lost are re-enqueued.
The whole engine under faults is in test_chaos.py and benchmarks/chaos.py.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator

import pytest
import redis
from celery_harness import RedisServer, fresh_store, redis_server, wait_for
from sqlalchemy import func, select, update

from newsletter.config import reset_settings
from newsletter.db import session_scope
from newsletter.dispatch import journal
from newsletter.dispatch.leases import DONE, QUEUED, RUNNING, Lease, task_book, task_key
from newsletter.dispatch.maintenance import recover
from newsletter.dispatch.planning import plan_send
from newsletter.ingest import parse_file
from newsletter.models import Delivery, EventRecipient, utcnow
from newsletter.paths import SAMPLES_DIR
from newsletter.sends import create_send
from newsletter.subscribers import SubscriberInput, upsert
from newsletter.updates import store_update

__all__ = ["fresh_store", "redis_server"]  # fixtures used below

pytestmark = pytest.mark.postgres


@pytest.fixture
def broker(
    fresh_store: str, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[redis.Redis]:
    """Settings pointing at this test's Redis (as broker) and store; a client of that Redis."""
    monkeypatch.setenv("NEWSLETTER_BROKER_URL", redis_server.url)
    monkeypatch.setenv("NEWSLETTER_LEASE_SECONDS", "5")
    reset_settings()
    client = redis.Redis.from_url(redis_server.url)
    yield client
    client.close()
    reset_settings()


def planned_send(count: int) -> int:
    """A send of the sample update (it has a featured event) planned into ``count`` rows."""
    with session_scope() as session:
        upsert(
            session,
            [SubscriberInput.build(f"r{i}@example.org", roles=("DCS",)) for i in range(count)],
            default_status="active",
            consent_source="test",
        )
        record = store_update(session, parse_file(SAMPLES_DIR / "north-east-2017-04.txt").update)
        send_id = create_send(session, update_id=record.id, segments=["dcs"]).id
    plan_send(send_id)  # batches published to Redis; no worker takes them here
    return send_id


def test_journal_writes_survive_the_writer_being_killed_at_once(
    broker: redis.Redis, redis_server: RedisServer
) -> None:
    """The write does not wait for Redis: what was written before a SIGKILL is there."""
    script = textwrap.dedent(
        f"""
        import os, signal
        from newsletter.dispatch.journal import RedisJournal
        j = RedisJournal({redis_server.url!r})
        for i in range(1, 2001):
            j.sent(7, i, f"<{{i}}.tag@example.org>")
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], timeout=60, check=False)
    assert done.returncode == -9
    wait_for(lambda: len(journal.read_entries(7)) == 2000, timeout=10, what="2000 journal entries")
    entries = journal.read_entries(7)
    assert entries[1] == "<1.tag@example.org>" and entries[2000] == "<2000.tag@example.org>"


def test_settling_records_journaled_rows_as_sent_and_drops_the_entries(
    broker: redis.Redis, redis_server: RedisServer
) -> None:
    send_id = planned_send(6)
    with session_scope() as session:
        ids = sorted(session.scalars(select(Delivery.id).where(Delivery.send_id == send_id)))
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(ids))
            .values(status="claimed", claimed_by="t", claimed_at=utcnow())
        )
    writer = journal.RedisJournal(redis_server.url)
    for delivery_id in ids[:4]:
        writer.sent(send_id, delivery_id, f"<{delivery_id}.x@example.org>")
    writer.forget(send_id, ids[:1])  # the store had the first already
    writer.close()
    settled = wait_for(
        lambda: len(journal.read_entries(send_id)) == 3 and journal.settle(send_id, ids),
        timeout=10,
        what="the journal entries",
    )
    assert settled == set(ids[1:4])
    with session_scope() as session:
        rows = {
            int(i): m
            for i, m in session.execute(
                select(Delivery.id, Delivery.message_id).where(Delivery.id.in_(ids))
            )
        }
        states = {
            int(i): st
            for i, st in session.execute(
                select(Delivery.id, Delivery.status).where(Delivery.id.in_(ids))
            )
        }
        recipients = session.scalar(select(func.count()).select_from(EventRecipient))
    assert [states[i] for i in ids] == ["claimed", "sent", "sent", "sent", "claimed", "claimed"]
    assert rows[ids[1]] == f"<{ids[1]}.x@example.org>"
    assert recipients == 3  # the featured event's recipients, as a normal record
    assert journal.read_entries(send_id) == {}


def test_queued_batches_are_left_alone_and_lost_ones_re_enqueued(broker: redis.Redis) -> None:
    send_id = planned_send(30)
    with session_scope() as session:
        tasks = set(session.scalars(select(Delivery.claimed_by).where(Delivery.send_id == send_id)))
    assert None not in tasks and len(tasks) == 1  # one batch (250 a batch)
    (task_id,) = tasks
    assert broker.get(task_key(str(task_id))) == QUEUED.encode()
    # Long after, the batch still waits in a healthy queue: nothing is re-enqueued.
    later = recover_later(3600)
    assert later["requeued"] == 0
    # Redis loses the queue and the task's state together: the rows are re-enqueued.
    broker.flushall()
    assert recover_later(60)["requeued"] == 30
    with session_scope() as session:
        restamped = set(
            session.scalars(select(Delivery.claimed_by).where(Delivery.send_id == send_id))
        )
    assert len(restamped) == 1 and restamped != tasks


def recover_later(seconds: float) -> dict[str, int]:
    from datetime import timedelta

    return recover(utcnow() + timedelta(seconds=seconds))


def test_a_dead_holders_claims_come_back_after_its_lease_and_a_live_ones_do_not(
    broker: redis.Redis, redis_server: RedisServer
) -> None:
    send_id = planned_send(10)
    book = task_book()
    assert book is not None
    live, dead = uuid.uuid4().hex, uuid.uuid4().hex
    with session_scope() as session:
        ids = sorted(session.scalars(select(Delivery.id).where(Delivery.send_id == send_id)))
    holder = Lease(book, live, 5.0)
    holder.start()
    try:
        with session_scope() as session:
            for task, chosen in ((live, ids[:5]), (dead, ids[5:])):
                session.execute(
                    update(Delivery)
                    .where(Delivery.id.in_(chosen))
                    .values(status="claimed", claimed_by=task, claimed_at=utcnow())
                )
        # The dead task's lease: written once, never renewed (its holder was killed).
        assert book.acquire(dead, "killed-run", 5.0)
        wait_for(lambda: book.uptime() >= 5, timeout=30, what="Redis up for a lease")
        wait_for(lambda: broker.get(task_key(dead)) is None, timeout=30, what="the lease to lapse")
        assert book.states([live]) == {live: RUNNING}
        result = recover_later(10)  # claims older than a lease
        assert result["reclaimed"] == 5
        with session_scope() as session:
            states = {
                int(i): st
                for i, st in session.execute(
                    select(Delivery.id, Delivery.status).where(Delivery.id.in_(ids))
                )
            }
        assert [states[i] for i in ids[:5]] == ["claimed"] * 5
        assert [states[i] for i in ids[5:]] == ["pending"] * 5
    finally:
        holder.end()
    assert broker.get(task_key(live)) == b"done"


def test_a_lease_is_exclusive_until_it_lapses_or_ends(broker: redis.Redis) -> None:
    """A second run of a task cannot take its lease while the first holds it."""
    book = task_book()
    assert book is not None
    task = uuid.uuid4().hex
    book.queued([task])
    first = Lease(book, task, 5.0)
    assert first.start()  # a queued task is free to take
    try:
        copy = Lease(book, task, 5.0)
        assert not copy.start()
        assert not copy.valid()
        copy.end()  # a refused run leaves the holder's state alone
        assert book.states([task]) == {task: RUNNING}
        # The holder's heartbeat renews its own key and nobody else's.
        assert book.renew(task, first.holder, 5.0)
        assert not book.renew(task, copy.holder, 5.0)
    finally:
        first.end()
    assert book.states([task]) == {task: DONE}
    after_done = Lease(book, task, 5.0)
    assert after_done.start()
    after_done.end()

    # A holder that died: its key stays until it lapses, then the task is free again.
    dead = uuid.uuid4().hex
    assert book.acquire(dead, "killed-run", 1.0)
    redelivered = Lease(book, dead, 5.0)
    assert not redelivered.start()
    wait_for(lambda: broker.get(task_key(dead)) is None, timeout=10, what="the lease to lapse")
    assert redelivered.start()
    try:
        assert redelivered.valid()
        assert book.states([dead]) == {dead: RUNNING}
    finally:
        redelivered.end()
    assert book.states([dead]) == {dead: DONE}
