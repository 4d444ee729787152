"""The dispatch engine end to end, in-process (embedded default), on SQLite and PostgreSQL.

Messages go to the in-memory transport that ships in the package; every
message is parsed back with the ``email`` package.  The Celery, Redis and
real-SMTP variants of these scenarios are in ``test_dispatch_celery.py``.
"""

from __future__ import annotations

import email
import email.policy
import json
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import event, func, select, update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from newsletter.cli import app as cli_app
from newsletter.db import get_engine, session_scope
from newsletter.dispatch import control
from newsletter.dispatch.batches import enqueue_pending
from newsletter.dispatch.embedded import run_until_idle
from newsletter.dispatch.maintenance import send_reminders
from newsletter.dispatch.queue import in_process_queue
from newsletter.dispatch.result_store import ResultGroup, write_group
from newsletter.dispatch.runtime import Runtime, set_runtime
from newsletter.events.changes import cancel_event, edit_event
from newsletter.events.reminders import due_reminder_offset
from newsletter.ingest import parse_file
from newsletter.models import Delivery, EventRecipient, EventRecord, Send, Suppression, utcnow
from newsletter.paths import SAMPLES_DIR
from newsletter.render.render import stats
from newsletter.sends import counts, create_send, get_send
from newsletter.subscribers import SubscriberInput, find, set_status, upsert
from newsletter.transports.memory import InMemoryTransport
from newsletter.updates import store_update

ROLES = (
    ("DCS",),
    ("Lead Member",),
    ("Workforce Lead",),
    ("DCS", "Lead Member"),
    ("Lead Member", "Workforce Lead"),
    ("DCS", "Workforce Lead", "Lead Member"),
)


@pytest.fixture
def transport(database_url: str) -> Iterator[InMemoryTransport]:
    """An in-memory transport installed as this process's runtime transport."""
    memory = InMemoryTransport()
    old = set_runtime(Runtime(transport=memory))
    yield memory
    # Run what a test left queued, so that no task leaks into the next test.
    in_process_queue().drain()
    assert len(in_process_queue()) == 0
    set_runtime(old)


def _people(n: int, status: str = "active") -> list[SubscriberInput]:
    return [
        SubscriberInput.build(
            f"person{i}@council{i % 12}.gov.uk",
            name=f"Person {i}",
            organisation=f"Council {i % 12}",
            region="North East",
            roles=ROLES[i % len(ROLES)],
            status=status,
        )
        for i in range(n)
    ]


def _update(sample: str = "north-east-2017-04.txt") -> int:
    with session_scope() as session:
        record = store_update(session, parse_file(SAMPLES_DIR / sample).update)
        return record.id


def _send(update_id: int, segments: list[str], **kwargs: object) -> int:
    with session_scope() as session:
        send = create_send(session, update_id=update_id, segments=segments, **kwargs)  # type: ignore[arg-type]
        send_id = send.id
    control.start_if_due(send_id)
    run_until_idle()
    return send_id


def _parsed(transport: InMemoryTransport) -> list[EmailMessage]:
    out = []
    for message in transport.messages:
        parsed = email.message_from_bytes(message.data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        out.append(parsed)
    return out


def _status(send_id: int) -> tuple[str, int, int, int, int, int]:
    with session_scope() as session:
        c = counts(session, send_id)
        return get_send(session, send_id).status, c.planned, c.sent, c.failed, c.skipped, c.pending


def test_each_subscriber_once_with_first_segment_edition(
    session: Session, transport: InMemoryTransport
) -> None:
    upsert(session, _people(120), default_status="active", consent_source="t")
    session.commit()
    stats.reset()
    update_id = _update()
    send_id = _send(update_id, ["workforce-lead", "dcs", "lead-member"])
    status, planned, sent, failed, skipped, pending = _status(send_id)
    assert (status, planned, sent, failed, skipped, pending) == ("finished", 120, 120, 0, 0, 0)
    recipients = Counter(str(m["To"]).split("<")[-1].rstrip(">") for m in _parsed(transport))
    assert len(recipients) == 120 and set(recipients.values()) == {1}
    # Rendering ran once per segment, not per recipient.
    assert stats.premailer_runs == 3
    # Every delivery row records the Message-ID of the very message it sent.
    with session_scope() as s:
        rows = s.execute(
            select(Delivery.id, Delivery.message_id).where(Delivery.send_id == send_id)
        )
        recorded = {delivery_id: message_id for delivery_id, message_id in rows}
    sent_ids = {int(m["X-Newsletter-Delivery"]): str(m["Message-ID"]) for m in _parsed(transport)}
    assert recorded == sent_ids
    by_address = {str(m["To"]).split("<")[-1].rstrip(">"): m for m in _parsed(transport)}
    # person2 is a workforce lead only; person5 has all three roles: workforce edition first.
    for index in (2, 5):
        body = by_address[f"person{index}@council{index}.gov.uk"].get_body(("plain",))
        assert body is not None and "For workforce leads" in body.get_content()
    lead_only = by_address["person1@council1.gov.uk"].get_body(("plain",))
    assert lead_only is not None and "For workforce leads" not in lead_only.get_content()
    for message in _parsed(transport):
        for header in (
            "Message-ID",
            "Date",
            "List-Id",
            "List-Unsubscribe",
            "X-Newsletter-Delivery",
        ):
            assert message[header], header
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_featured_event_attached_and_recipients_recorded(
    session: Session, transport: InMemoryTransport
) -> None:
    upsert(session, _people(10), default_status="active", consent_source="t")
    session.commit()
    update_id = _update("north-east-2017-04.txt")
    _send(update_id, ["dcs"])
    messages = _parsed(transport)
    assert messages
    for message in messages:
        assert message.get_content_type() == "multipart/mixed"
        calendar = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
        assert len(calendar) == 1 and calendar[0].get_param("method") == "PUBLISH"
        assert "METHOD:PUBLISH" in calendar[0].get_content()
    with session_scope() as s:
        had = s.execute(
            select(
                EventRecipient.subscriber_id,
                EventRecipient.first_delivery_id,
                EventRecipient.created_at,
            )
        ).all()
        subscriber_of = {
            delivery_id: subscriber_id
            for delivery_id, subscriber_id in s.execute(select(Delivery.id, Delivery.subscriber_id))
        }
    # One row per message, naming the delivery that carried the invitation.
    delivered = {int(m["X-Newsletter-Delivery"]) for m in messages}
    assert len(had) == len(messages)
    assert {(sub, first) for sub, first, _ in had} == {(subscriber_of[d], d) for d in delivered}
    assert all(created is not None for _, _, created in had)


def test_unsubscribed_after_planning_is_skipped(
    session: Session, transport: InMemoryTransport
) -> None:
    upsert(session, _people(30), default_status="active", consent_source="t")
    session.commit()
    update_id = _update()
    with session_scope() as s:
        send_id = create_send(s, update_id=update_id, segments=["all"]).id
    control.start_if_due(send_id)
    # Plan only: run the plan task, then unsubscribe someone before their batch runs.
    queue = in_process_queue()
    from newsletter.dispatch.planning import plan_send

    queue.clear()  # drop the enqueued plan task: we run it by hand
    plan_send(send_id)
    with session_scope() as s:
        set_status(find(s, "person3@council3.gov.uk"), "unsubscribed")
        s.add(Suppression(email_key="person4@council4.gov.uk", reason="manual"))
    run_until_idle()
    assert _status(send_id) == ("finished", 30, 28, 0, 2, 0)
    assert not transport.sent_to("person3@council3.gov.uk")


def test_soft_failures_retry_and_hard_failures_suppress(
    session: Session, transport: InMemoryTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSLETTER_RETRY_BASE_SECONDS", "0.01")
    from newsletter.config import reset_settings

    reset_settings()
    upsert(session, _people(20), default_status="active", consent_source="t")
    session.commit()
    transport.fail("person1@council1.gov.uk", 451, "try later", times=2)
    transport.fail("person2@council2.gov.uk", 550, "no such user")
    send_id = _send(_update(), ["all"])
    assert _status(send_id) == ("finished", 20, 19, 1, 0, 0)
    assert len(transport.sent_to("person1@council1.gov.uk")) == 1
    with session_scope() as s:
        assert (
            s.scalar(
                select(Suppression.reason).where(Suppression.email_key == "person2@council2.gov.uk")
            )
            == "smtp-rejected"
        )
        assert find(s, "person2@council2.gov.uk").status == "bounced"
    # The suppressed address is never tried again, whatever segment it is in.
    attempts_before = transport.attempts
    second = _send(_update(), ["dcs", "lead-member", "workforce-lead"])
    assert not [m for m in transport.messages[-30:] if "person2@" in str(m.recipients)]
    status = _status(second)
    assert status[0] == "finished" and status[1] == 19  # bounced person is not in the audience
    assert transport.attempts - attempts_before == 19


def test_retries_are_bounded(
    session: Session, transport: InMemoryTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSLETTER_RETRY_BASE_SECONDS", "0.01")
    monkeypatch.setenv("NEWSLETTER_MAX_ATTEMPTS", "3")
    from newsletter.config import reset_settings

    reset_settings()
    upsert(session, _people(3), default_status="active", consent_source="t")
    session.commit()
    transport.fail("person0@council0.gov.uk", 421, "busy")
    send_id = _send(_update(), ["all"])
    assert _status(send_id) == ("finished", 3, 2, 1, 0, 0)
    with session_scope() as s:
        assert find(s, "person0@council0.gov.uk").status == "active"  # 4xx never suppresses


def test_pause_resume_and_cancel(session: Session, transport: InMemoryTransport) -> None:
    upsert(session, _people(60), default_status="active", consent_source="t")
    session.commit()
    update_id = _update()
    with session_scope() as s:
        send_id = create_send(s, update_id=update_id, segments=["all"]).id
    control.start_if_due(send_id)
    in_process_queue().drain()  # nothing is due yet? plan and all batches run:
    assert _status(send_id)[0] == "finished"
    transport.messages.clear()

    with session_scope() as s:
        second = create_send(s, update_id=update_id, segments=["all"]).id
    control.start_if_due(second)
    from newsletter.dispatch.planning import plan_send

    in_process_queue().clear()
    plan_send(second)  # rows planned and batches queued, nothing sent yet
    control.pause(second)
    run_until_idle()
    assert _status(second)[:3] == ("paused", 60, 0)
    assert control.resume(second) == "sending"
    run_until_idle()
    assert _status(second) == ("finished", 60, 60, 0, 0, 0)
    assert len({tuple(m.recipients) for m in transport.messages}) == 60 == len(transport.messages)

    with session_scope() as s:
        third = create_send(s, update_id=update_id, segments=["all"]).id
    control.start_if_due(third)
    in_process_queue().clear()
    plan_send(third)
    assert control.cancel(third) == 60
    run_until_idle()
    assert _status(third) == ("cancelled", 60, 0, 0, 60, 0)


def test_send_pauses_itself_after_consecutive_failures(
    session: Session, transport: InMemoryTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSLETTER_PAUSE_AFTER_FAILURES", "5")
    from newsletter.config import reset_settings

    reset_settings()
    upsert(session, _people(40), default_status="active", consent_source="t")
    session.commit()
    for i in range(40):
        transport.fail(f"person{i}@council{i % 12}.gov.uk", 554, "rejected")
    send_id = _send(_update(), ["all"])
    with session_scope() as s:
        send = get_send(s, send_id)
        assert send.status == "paused"
        assert send.status_reason is not None and "consecutive" in send.status_reason
    status = _status(send_id)
    assert status[3] < 40 and status[5] > 0  # it stopped before failing everyone
    # `sends show --json` says why it paused and what the server last said.
    shown = CliRunner().invoke(cli_app, ["sends", "show", str(send_id), "--json"])
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.stdout)
    assert data["status"] == "paused" and "consecutive" in data["reason"]
    assert data["last_error"]["status"] == "failed"
    assert "554" in data["last_error"]["error"] and "rejected" in data["last_error"]["error"]


def test_scheduled_send_waits_for_its_time(session: Session, transport: InMemoryTransport) -> None:
    upsert(session, _people(5), default_status="active", consent_source="t")
    session.commit()
    send_id = _send(_update(), ["all"], at=utcnow() + timedelta(hours=1))
    assert _status(send_id)[:2] == ("scheduled", 0)
    assert transport.messages == []


def test_event_update_and_cancel_reach_exactly_its_recipients(
    session: Session, transport: InMemoryTransport
) -> None:
    upsert(session, _people(30), default_status="active", consent_source="t")
    session.commit()
    update_id = _update("north-east-2017-04.txt")
    _send(update_id, ["lead-member"])  # only lead members get the featured event
    had = {tuple(m.recipients) for m in transport.messages}
    transport.messages.clear()
    with session_scope() as s:
        event_id = s.scalars(select(EventRecord.id).where(EventRecord.update_id == update_id)).one()
        change = edit_event(s, event_id, location="Durham County Hall")
        assert change.notice_send_id is not None
    control.start_if_due(change.notice_send_id)
    run_until_idle()
    assert {tuple(m.recipients) for m in transport.messages} == had
    for message in _parsed(transport):
        assert str(message["Subject"]).startswith("Updated:")
        calendar = next(p for p in message.walk() if p.get_content_type() == "text/calendar")
        assert "SEQUENCE:1" in calendar.get_content()
    transport.messages.clear()
    with session_scope() as s:
        cancelled = cancel_event(s, event_id)
    assert cancelled.notice_send_id is not None
    control.start_if_due(cancelled.notice_send_id)
    run_until_idle()
    assert {tuple(m.recipients) for m in transport.messages} == had
    for message in _parsed(transport):
        calendar = next(p for p in message.walk() if p.get_content_type() == "text/calendar")
        text = calendar.get_content()
        assert calendar.get_param("method") == "CANCEL"
        assert "METHOD:CANCEL" in text and "STATUS:CANCELLED" in text and "SEQUENCE:2" in text


def test_reminders_once_never_after_start_never_to_the_unsubscribed(
    session: Session, transport: InMemoryTransport
) -> None:
    upsert(session, _people(12), default_status="active", consent_source="t")
    session.commit()
    update_id = _update("north-east-2017-04.txt")
    _send(update_id, ["all"])
    transport.messages.clear()
    with session_scope() as s:
        event = s.scalars(select(EventRecord).where(EventRecord.update_id == update_id)).one()
        event.start = utcnow() + timedelta(hours=20)  # inside the 1-day reminder window
        event_id = event.id
        set_status(find(s, "person0@council0.gov.uk"), "unsubscribed")
        find(s, "person1@council1.gov.uk").reminders_enabled = False
        # Everyone got the newsletter a day ago, except person2 (11 hours ago:
        # inside the default 12-hour gap, so no reminder on its heels).
        for row in s.scalars(select(EventRecipient).where(EventRecipient.event_id == event_id)):
            row.created_at = utcnow() - timedelta(hours=24)
        recent = find(s, "person2@council2.gov.uk").id
        s.get_one(EventRecipient, (event_id, recent)).created_at = utcnow() - timedelta(hours=11)
    created = send_reminders()
    assert len(created) == 1
    run_until_idle()
    assert send_reminders() == []  # never twice
    run_until_idle()
    got = {m.recipients[0] for m in transport.messages}
    assert len(got) == 9 and "person0@council0.gov.uk" not in got
    assert "person1@council1.gov.uk" not in got
    assert "person2@council2.gov.uk" not in got
    with session_scope() as s:
        stored = s.get(EventRecord, event_id)
        assert stored is not None
        assert due_reminder_offset(stored, stored.start + timedelta(minutes=1)) is None
        assert due_reminder_offset(stored, stored.start - timedelta(days=3)) == 10080


def test_audience_snapshot_excludes_later_joiners(
    session: Session, transport: InMemoryTransport
) -> None:
    upsert(session, _people(10), default_status="active", consent_source="t")
    session.commit()
    update_id = _update()
    with session_scope() as s:
        send_id = create_send(s, update_id=update_id, segments=["all"]).id
    control.start_if_due(send_id)
    from newsletter.dispatch.planning import plan_send

    in_process_queue().clear()
    plan_send(send_id)
    with session_scope() as s:
        upsert(
            s, [SubscriberInput.build("late@x.org")], default_status="active", consent_source="t"
        )
    from newsletter.dispatch.batches import enqueue_pending

    enqueue_pending(send_id)
    run_until_idle()
    assert _status(send_id) == ("finished", 10, 10, 0, 0, 0)
    assert not transport.sent_to("late@x.org")


def test_demo_runs_on_embedded_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As on a fresh machine: no secret key configured, so the demo makes one for its store."""
    from newsletter.demo import run_demo

    monkeypatch.delenv("NEWSLETTER_SECRET_KEY")
    result = run_demo(tmp_path / "demo")
    key_file = result.database.with_name(result.database.name + ".secret-key")
    assert len(key_file.read_text(encoding="utf-8").strip()) >= 32
    assert result.subscribers >= 290 and len(result.updates) == 3
    for s in result.sends:
        assert s.status == "finished" and s.planned == s.sent + s.failed + s.skipped
    emails = list(result.outbox.glob("*.eml"))
    assert len(emails) == sum(s.sent for s in result.sends)
    assert result.index.exists()


def test_rows_released_after_a_resume_are_queued_not_stranded(
    session: Session, transport: InMemoryTransport
) -> None:
    """A batch that saw the pause hands its rows back; if the resume already ran, it queues them."""
    from newsletter.deliveries import claim
    from newsletter.dispatch.delivery import hand_back_after_pause
    from newsletter.dispatch.planning import plan_send

    upsert(session, _people(8), default_status="active", consent_source="t")
    session.commit()
    with session_scope() as s:
        send_id = create_send(s, update_id=_update(), segments=["all"]).id
    control.start_if_due(send_id)
    in_process_queue().clear()
    plan_send(send_id)
    in_process_queue().clear()  # the planned batches are lost: only the claim matters
    with session_scope() as s:
        ids = claim(s, send_id, list(range(1, 10_000)), "batch-1")
    assert len(ids) == 8

    control.pause(send_id)
    in_process_queue().clear()
    hand_back_after_pause(send_id, ids)  # still paused: released, nothing queued
    assert len(in_process_queue()) == 0
    assert _status(send_id)[0] == "paused"

    with session_scope() as s:
        claim(s, send_id, ids, "batch-2")  # a batch holds them again ...
    control.resume(send_id)  # ... while the resume enqueues only pending rows (none)
    in_process_queue().clear()
    hand_back_after_pause(send_id, ids)  # the batch releases them after the resume
    run_until_idle()
    assert _status(send_id) == ("finished", 8, 8, 0, 0, 0)


def test_a_refused_message_fails_alone(session: Session, transport: InMemoryTransport) -> None:
    """A name with a line break would inject a header: that delivery fails, the rest go."""
    people = _people(5)
    upsert(session, people, default_status="active", consent_source="t")
    session.flush()
    find(session, "person2@council2.gov.uk").name = "Eve\r\nBcc: everyone@example.org"
    session.commit()
    send_id = _send(_update(), ["all"])
    assert _status(send_id) == ("finished", 5, 4, 1, 0, 0)
    assert not transport.sent_to("person2@council2.gov.uk")
    with session_scope() as s:
        error = s.scalar(select(Delivery.error).where(Delivery.status == "failed"))
    assert error is not None and error.startswith("message refused:")


def test_a_message_sent_again_carries_its_first_message_id(
    session: Session, transport: InMemoryTransport
) -> None:
    """A delivery sent twice (here: its row handed back as if its worker had died
    before recording it) goes out with the same Message-ID, from a fresh process's
    template, so receivers that deduplicate on Message-ID merge the copies."""
    upsert(session, _people(5), default_status="active", consent_source="t")
    session.commit()
    send_id = _send(_update(), ["all"])
    first = {int(m["X-Newsletter-Delivery"]): str(m["Message-ID"]) for m in _parsed(transport)}
    again = min(first)
    with session_scope() as s:
        s.execute(
            update(Delivery)
            .where(Delivery.id == again)
            .values(status="pending", claimed_by=None, message_id=None)
        )
        s.execute(update(Send).where(Send.id == send_id).values(status="sending"))
    fresh = InMemoryTransport()
    set_runtime(Runtime(transport=fresh))  # a new process: templates built afresh
    enqueue_pending(send_id)
    run_until_idle()
    [resent] = _parsed(fresh)
    assert int(resent["X-Newsletter-Delivery"]) == again
    assert str(resent["Message-ID"]) == first[again]
    with session_scope() as s:
        assert s.scalar(select(Delivery.message_id).where(Delivery.id == again)) == first[again]


def test_a_send_where_all_goes_well_never_writes_the_send_row_per_group(
    session: Session, transport: InMemoryTransport
) -> None:
    """The failure streak is only read while messages go out: no worker locks the send's row.

    100 messages make four full groups, the last written in the background, so
    the batch ends with nothing left to record, and records nothing more.
    """
    upsert(session, _people(100), default_status="active", consent_source="t")
    session.commit()
    streak_writes: list[str] = []

    def watch(conn: object, cursor: object, statement: str, *args: object) -> None:
        if statement.lstrip().upper().startswith("UPDATE SENDS SET CONSECUTIVE_FAILURES"):
            streak_writes.append(statement)

    engine = get_engine()
    event.listen(engine, "before_cursor_execute", watch)
    try:
        send_id = _send(_update(), ["workforce-lead", "dcs", "lead-member"])
    finally:
        event.remove(engine, "before_cursor_execute", watch)
    assert _status(send_id) == ("finished", 100, 100, 0, 0, 0)
    assert streak_writes == []


def test_an_all_sent_group_records_rows_events_and_clears_another_workers_failures(
    session: Session, transport: InMemoryTransport
) -> None:
    """The usual group (every message sent) is written whole, on SQLite and PostgreSQL alike."""
    upsert(session, _people(3), default_status="active", consent_source="t")
    session.commit()
    with session_scope() as s:
        send = create_send(s, update_id=_update(), segments=["all"])
        send_id = send.id
        event_id = s.scalars(select(EventRecord.id)).first()
        assert event_id is not None
        subscribers = [find(s, f"person{i}@council{i}.gov.uk") for i in range(3)]
        rows = [
            Delivery(send_id=send_id, subscriber_id=p.id, segment="all", status="claimed")
            for p in subscribers
        ]
        s.add_all(rows)
        s.flush()
        ids = [(row.id, row.subscriber_id) for row in rows]
        # Another worker's run of failures, which a success ends.
        s.execute(update(Send).where(Send.id == send_id).values(consecutive_failures=3))
    group = ResultGroup(had_success=True, size=len(ids))
    for delivery_id, subscriber_id in ids:
        group.sent.append({"did": delivery_id, "mid": f"<{delivery_id}@example.org>"})
        group.event_recipients.append(
            {"event_id": event_id, "subscriber_id": subscriber_id, "first_delivery_id": delivery_id}
        )
    outcome = write_group(send_id, group)
    assert outcome.sent_ids == [d for d, _ in ids]
    with session_scope() as s:
        stored = s.execute(
            select(Delivery.id, Delivery.status, Delivery.message_id).where(
                Delivery.send_id == send_id
            )
        ).all()
        assert sorted(stored) == [(d, "sent", f"<{d}@example.org>") for d, _ in ids]
        invited = s.scalars(
            select(EventRecipient.first_delivery_id).where(EventRecipient.event_id == event_id)
        ).all()
        assert sorted(d or 0 for d in invited) == [d for d, _ in ids]
        assert s.scalar(select(Send.consecutive_failures).where(Send.id == send_id)) == 0
    # Written again (a commit whose answer was lost), nothing changes twice.
    write_group(send_id, group)
    with session_scope() as s:
        count = s.scalar(select(func.count()).select_from(EventRecipient))
        assert count == len(ids)
