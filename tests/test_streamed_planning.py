"""Streamed planning and editions rendered at scheduling, on SQLite and PostgreSQL.

The planner commits the first batches of a send's audience snapshot with the
start of the send and enqueues them before it inserts the rest
(docs/architecture.md, "Streamed planning"); the send cannot finish while the
snapshot is incomplete, and a planner that dies midway is replaced by
recovery without a message sent twice or lost.  Editions are stored once a
send is scheduled, and rendered again if an event they show is corrected
before the send starts.
"""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from newsletter import sends
from newsletter.config import reset_settings
from newsletter.db import session_scope
from newsletter.dispatch import batches, control, planning
from newsletter.dispatch.embedded import run_until_idle
from newsletter.dispatch.maintenance import recover
from newsletter.dispatch.queue import in_process_queue
from newsletter.dispatch.runtime import Runtime, set_runtime
from newsletter.events.changes import edit_event
from newsletter.ingest import parse_file
from newsletter.models import Delivery, EventRecord, Send, SendEdition, utcnow
from newsletter.paths import SAMPLES_DIR
from newsletter.subscribers import SubscriberInput, upsert
from newsletter.transports.memory import InMemoryTransport
from newsletter.updates import store_update

BATCH = 10
PEOPLE = 120  # 12 batches; the first transaction takes FIRST_BATCHES of them


@pytest.fixture
def transport(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemoryTransport]:
    """Small batches and an in-memory transport; leftover tasks are run at the end."""
    monkeypatch.setenv("NEWSLETTER_BATCH_SIZE", str(BATCH))
    reset_settings()
    memory = InMemoryTransport()
    old = set_runtime(Runtime(transport=memory))
    yield memory
    in_process_queue().drain()
    set_runtime(old)


def _fill(session: Session, n: int = PEOPLE) -> None:
    people = [
        SubscriberInput.build(
            f"person{i}@council.gov.uk", name=f"Person {i}", roles=("DCS",), status="active"
        )
        for i in range(n)
    ]
    upsert(session, people, default_status="active", consent_source="t")
    session.commit()


def _update() -> int:
    with session_scope() as session:
        return store_update(session, parse_file(SAMPLES_DIR / "north-east-2017-04.txt").update).id


def _new_send(update_id: int, **kwargs: Any) -> int:
    with session_scope() as session:
        return sends.create_send(session, update_id=update_id, segments=["dcs"], **kwargs).id


def _rows(send_id: int) -> int:
    with session_scope() as session:
        n = session.scalar(select(func.count(Delivery.id)).where(Delivery.send_id == send_id))
        return int(n or 0)


def _planned(send_id: int) -> int:
    with session_scope() as session:
        return int(session.scalar(select(Send.planned).where(Send.id == send_id)) or 0)


class WatchingQueue:
    """The in-process queue, noting what was committed when each batch was enqueued."""

    def __init__(self, send_id: int) -> None:
        self.send_id = send_id
        self.batches: list[tuple[list[int], int, int]] = []  # (ids, rows then, planned then)

    def enqueue(
        self, name: str, *args: Any, countdown: float | None = None, task_id: str | None = None
    ) -> None:
        if name == "deliver_batch":
            self.batches.append((list(args[1]), _rows(self.send_id), _planned(self.send_id)))
        in_process_queue().enqueue(name, *args, countdown=countdown, task_id=task_id)


def test_first_batches_are_enqueued_before_the_snapshot_is_complete(
    session: Session, transport: InMemoryTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fill(session)
    send_id = _new_send(_update())
    watching = WatchingQueue(send_id)
    monkeypatch.setattr(batches, "get_queue", lambda: watching)

    planning.plan_send(send_id)

    first_ids, rows_then, planned_then = watching.batches[0]
    assert len(first_ids) == BATCH
    # When the first batch went to the queue only the first rows existed and
    # the snapshot was marked incomplete.
    assert rows_then == planning.FIRST_BATCHES * BATCH < PEOPLE
    assert planned_then == sends.PLANNING
    # Every row was enqueued exactly once across the two steps.
    enqueued = Counter(i for ids, _, _ in watching.batches for i in ids)
    with session_scope() as s:
        all_ids = set(s.scalars(select(Delivery.id).where(Delivery.send_id == send_id)))
    assert set(enqueued) == all_ids and set(enqueued.values()) == {1}
    assert _planned(send_id) == PEOPLE

    in_process_queue().drain()
    recipients = Counter(str(m.recipients) for m in transport.messages)
    assert len(transport.messages) == PEOPLE and set(recipients.values()) == {1}
    with session_scope() as s:
        assert sends.get_send(s, send_id).status == "finished"


def test_a_planner_dying_midway_neither_finishes_nor_loses_the_send(
    session: Session, transport: InMemoryTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fill(session)
    send_id = _new_send(_update())

    def dies(*_: object) -> int | None:
        raise RuntimeError("planner killed")

    with monkeypatch.context() as m:
        m.setattr(planning, "complete_snapshot", dies)
        with pytest.raises(RuntimeError, match="planner killed"):
            planning.plan_send(send_id)
    # The first rows go out, but the send is not finished: the rest is missing.
    in_process_queue().drain()
    assert len(transport.messages) == planning.FIRST_BATCHES * BATCH
    with session_scope() as s:
        send = sends.get_send(s, send_id)
        assert (send.status, send.planned) == ("sending", sends.PLANNING)
    assert not sends.finish_if_done(send_id)

    # Recovery notices the stalled snapshot and plans the send again.
    recover(now=utcnow() + timedelta(hours=1))
    in_process_queue().drain()
    recipients = Counter(m.recipients[0] for m in transport.messages)
    assert len(recipients) == PEOPLE and set(recipients.values()) == {1}
    with session_scope() as s:
        send = sends.get_send(s, send_id)
        assert (send.status, send.planned) == ("finished", PEOPLE)


def test_a_send_cancelled_while_planning_gets_no_more_rows(
    session: Session, transport: InMemoryTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fill(session)
    send_id = _new_send(_update())
    real = planning.complete_snapshot

    def cancel_first(sid: int, task_id: str | None = None) -> int | None:
        control.cancel(sid)
        return real(sid, task_id)

    monkeypatch.setattr(planning, "complete_snapshot", cancel_first)
    planning.plan_send(send_id)
    in_process_queue().drain()
    assert transport.messages == []
    assert _rows(send_id) == planning.FIRST_BATCHES * BATCH
    with session_scope() as s:
        c = sends.counts(s, send_id)
        assert (sends.get_send(s, send_id).status, c.pending, c.skipped) == (
            "cancelled",
            0,
            planning.FIRST_BATCHES * BATCH,
        )


def test_a_small_audience_is_planned_in_one_step(
    session: Session, transport: InMemoryTransport
) -> None:
    _fill(session, n=7)
    send_id = _new_send(_update())
    control.start_if_due(send_id)
    run_until_idle()
    with session_scope() as s:
        send = sends.get_send(s, send_id)
        assert (send.status, send.planned) == ("finished", 7)
    assert len(transport.messages) == 7


def _editions(send_id: int) -> list[SendEdition]:
    with session_scope() as session:
        return list(session.scalars(select(SendEdition).where(SendEdition.send_id == send_id)))


def test_editions_exist_once_a_send_is_scheduled(
    session: Session, transport: InMemoryTransport
) -> None:
    update_id = _update()
    later = utcnow() + timedelta(days=1)
    with session_scope() as s:
        send = sends.create_send(s, update_id=update_id, segments=["dcs", "lead-member"], at=later)
        scheduled, draft_id = (
            send.id,
            sends.create_send(s, update_id=update_id, segments=["dcs"], draft=True).id,
        )
    assert sorted(e.segment for e in _editions(scheduled)) == ["dcs", "lead-member"]
    assert _editions(draft_id) == []
    with session_scope() as s:
        sends.schedule(s, draft_id, later)
    assert [e.segment for e in _editions(draft_id)] == ["dcs"]
    # Re-timing a scheduled send keeps the editions it has.
    before = _editions(draft_id)[0].html
    with session_scope() as s:
        sends.schedule(s, draft_id, later + timedelta(hours=1))
    assert [e.html for e in _editions(draft_id)] == [before]


def test_a_send_left_unrendered_is_rendered_by_its_planner(
    session: Session, transport: InMemoryTransport
) -> None:
    _fill(session, n=3)
    send_id = _new_send(_update(), render=False)
    assert _editions(send_id) == []
    control.start_if_due(send_id)
    run_until_idle()
    assert [e.segment for e in _editions(send_id)] == ["dcs"]
    assert len(transport.messages) == 3


def test_correcting_an_event_renders_waiting_sends_again(
    session: Session, transport: InMemoryTransport
) -> None:
    update_id = _update()
    with session_scope() as s:
        event = s.scalars(
            select(EventRecord).where(
                EventRecord.update_id == update_id, EventRecord.featured.is_(True)
            )
        ).first()
        assert event is not None
        event_id = event.id
    waiting = _new_send(update_id, at=utcnow() + timedelta(days=1))
    started = _new_send(update_id, at=utcnow() + timedelta(days=1))
    with session_scope() as s:
        sends.start(s, started, utcnow())

    with session_scope() as s:
        edit_event(s, event_id, location="Durham County Hall")

    def ics(send_id: int) -> str:
        (edition,) = _editions(send_id)
        return "".join(base64.b64decode(p["ics"]).decode() for p in edition.calendar)

    assert "Durham County Hall" in ics(waiting)
    assert "Durham County Hall" not in ics(started)  # it started with what it had
