"""End to end: real Redis, a real Celery worker process, a real SMTP server, PostgreSQL.

Each test starts its own redis-server and aiosmtpd server on 127.0.0.1, a new
PostgreSQL database, and ``newsletter worker`` processes (Celery prefork, two
pool processes).  This process plays the organiser: it adds subscribers,
ingests a sample update, creates the send and enqueues it through the broker.
Beat is not running, so where a test needs recovery it enqueues the
``recover`` task itself every two seconds, as beat does every minute.

What is checked is what the SMTP server accepted (counted per RCPT address)
against the store's Delivery rows: exactly once per subscriber, or, after a
SIGKILL, no more duplicates than messages in flight at the kill.
"""

from __future__ import annotations

import email
import email.policy
import json
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser

import pytest
import redis
from celery_harness import (
    REPO_ROOT,
    RedisServer,
    WorkerFactory,
    fresh_store,
    redis_server,
    wait_for,
    worker_environment,
    worker_factory,
)
from smtp_server import SMTPTestServer, running_smtp_server
from sqlalchemy import func, select

from newsletter import sends
from newsletter.config import reset_settings
from newsletter.db import session_scope
from newsletter.dispatch import control, task_message
from newsletter.dispatch.leases import DONE, RUNNING, state_of, task_key
from newsletter.dispatch.queue import QUEUE_OF, get_queue
from newsletter.dispatch.recording import UNRECORDED_LIMIT
from newsletter.ingest import parse_file
from newsletter.models import Delivery, SendEdition, Subscriber, Suppression
from newsletter.parts import GREETING, PREFERENCES_URL, UNSUBSCRIBE_URL
from newsletter.roles import slugify
from newsletter.subscribers import SubscriberInput, upsert
from newsletter.updates import store_update

__all__ = ["fresh_store", "redis_server", "worker_factory"]  # fixtures used below

pytestmark = pytest.mark.slow

SAMPLE = REPO_ROOT / "newsletter" / "data" / "samples" / "north-east-2018-12.txt"
# Deliberately not alphabetical: the edition must be the first *listed* segment.
SEGMENT_ORDER = ["workforce-lead", "dcs", "lead-member"]
ROLE_SETS: tuple[tuple[str, ...], ...] = (
    ("DCS",),
    ("Lead Member",),
    ("Workforce Lead",),
    ("DCS", "Lead Member"),
    ("DCS", "Workforce Lead"),
    ("Lead Member", "Workforce Lead"),
    ("DCS", "Lead Member", "Workforce Lead"),
)
AUTHORITIES = ("Durham", "Gateshead", "Newcastle", "Sunderland", "Hartlepool", "Darlington")
CONCURRENCY = 2
Reply = tuple[int, str]


class ScriptedSMTP:
    """The SMTP server's RCPT rule: counts every attempt, paces, and answers as told."""

    def __init__(self) -> None:
        self.attempts: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()
        self.delay = 0.0
        self.answer: Callable[[str, int], Reply | None] = lambda address, n: None
        self.held = threading.Event()
        self._hold_next = False
        self._released = threading.Event()
        self._lock = threading.Lock()

    def hold(self) -> None:
        """Make the next RCPT stop the whole server until :meth:`release`.

        Every session waits meanwhile, so each worker is inside a batch with
        its rows claimed: a kill then lands mid-batch, whatever the timing.
        """
        with self._lock:
            self.held.clear()
            self._released.clear()
            self._hold_next = True

    def release(self) -> None:
        self._released.set()

    def __call__(self, address: str) -> Reply | None:
        key = address.lower()
        with self._lock:
            self.attempts[key] += 1
            number = sum(self.attempts.values())
            reply = self.answer(key, number)
            if reply is not None:
                self.refused[key] += 1
            hold, self._hold_next = self._hold_next, False
        if hold:
            self.held.set()
            self._released.wait(timeout=30)
        if self.delay:
            # Runs on the server's event loop: pacing every session alike, as a
            # slow mail server does, so a test can act while a send is running.
            time.sleep(self.delay)
        return reply


@dataclass
class Stack:
    """Everything one test runs against."""

    redis: RedisServer
    smtp: SMTPTestServer
    script: ScriptedSMTP
    workers: WorkerFactory
    settings: dict[str, str]
    emails: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def accepted(self) -> Counter[str]:
        """Messages the SMTP server accepted, per recipient address."""
        return Counter(a.lower() for m in list(self.smtp.messages) for a in m.rcpt_tos)

    def diagnostics(self, send_id: int | None = None) -> str:
        lines = [self.workers.logs()]
        if send_id is not None:
            with session_scope() as session:
                send = sends.get_send(session, send_id)
                lines.append(json.dumps(sends.to_json(session, send), indent=1))
        lines.append(f"smtp accepted {len(self.smtp.messages)} messages")
        return "\n".join(lines)


@pytest.fixture
def stack(
    fresh_store: str,
    redis_server: RedisServer,
    worker_factory: Callable[[dict[str, str]], WorkerFactory],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Stack]:
    """Redis, SMTP and store up; the same settings here and in every worker."""
    with running_smtp_server() as smtp:
        script = ScriptedSMTP()
        smtp.rule = script
        settings = {
            "NEWSLETTER_DATABASE_URL": fresh_store,
            "NEWSLETTER_BROKER_URL": redis_server.url,
            "NEWSLETTER_SMTP_URL": smtp.url,
            "NEWSLETTER_BATCH_SIZE": "100",
            "NEWSLETTER_RETRY_BASE_SECONDS": "0.2",
            "NEWSLETTER_MAX_ATTEMPTS": "10",
            # Read by recover() only, which runs when a test enqueues it (no beat).
            "NEWSLETTER_CLAIM_TIMEOUT_SECONDS": "5",
            "NEWSLETTER_REQUEUE_AFTER_SECONDS": "2",
        }
        for name, value in settings.items():
            monkeypatch.setenv(name, value)
        reset_settings()
        workers = worker_factory(settings)
        try:
            yield Stack(redis_server, smtp, script, workers, settings)
        finally:
            # Workers go before the SMTP server they talk to.
            workers.stop_all()
            reset_settings()


def add_subscribers(stack: Stack, count: int) -> None:
    """``count`` active subscribers over every combination of the three roles, plus
    people who must get nothing: no role, or unsubscribed before the send."""
    people: list[SubscriberInput] = []
    for i in range(count):
        authority = AUTHORITIES[i % len(AUTHORITIES)]
        address = f"reader{i:05d}@{slugify(authority)}.gov.uk"
        roles = ROLE_SETS[i % len(ROLE_SETS)]
        people.append(
            SubscriberInput.build(address, name=f"Reader {i}", organisation=authority, roles=roles)
        )
        stack.emails[address] = tuple(people[-1].roles)
    for i in range(max(count // 50, 3)):
        people.append(SubscriberInput.build(f"norole{i:04d}@example.org", name="No Role"))
        people.append(
            SubscriberInput.build(f"gone{i:04d}@example.org", roles=("DCS",), status="unsubscribed")
        )
    with session_scope() as session:
        upsert(session, people, default_status="active", consent_source="test")


def create_send(segments: list[str] | None = None) -> int:
    """Ingest the sample update and schedule a send of it for now; returns its id."""
    with session_scope() as session:
        record = store_update(session, parse_file(SAMPLE).update, source_name=SAMPLE.name)
        send = sends.create_send(session, update_id=record.id, segments=segments or SEGMENT_ORDER)
        return send.id


def status_of(send_id: int) -> str:
    with session_scope() as session:
        return sends.get_send(session, send_id).status


def counts_of(send_id: int) -> sends.SendCounts:
    with session_scope() as session:
        return sends.counts(session, send_id)


def claimed_rows(send_id: int) -> list[tuple[int, str]]:
    """(delivery id, address) of rows a worker holds right now."""
    with session_scope() as session:
        rows = session.execute(
            select(Delivery.id, Subscriber.email_key)
            .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
            .where(Delivery.send_id == send_id, Delivery.status == "claimed")
        ).all()
        return [(int(i), str(e)) for i, e in rows]


def in_flight(stack: Stack, send_id: int) -> set[str]:
    """Addresses whose row is still claimed but whose message the server has:
    sent, not yet recorded (at most UNRECORDED_LIMIT per pool process)."""
    accepted = stack.accepted()
    return {address for _, address in claimed_rows(send_id) if accepted[address]}


def task_states(stack: Stack) -> dict[str, str]:
    """Every batch task's state in the task book (queued, running, done), by task id."""
    client = redis.Redis.from_url(stack.redis.url, decode_responses=True)
    try:
        keys = [str(key) for key in client.scan_iter(task_key("*"))]
        values = client.mget(keys) if keys else []
    finally:
        client.close()
    prefix = len(task_key(""))
    return {
        key[prefix:]: str(state_of(value)) for key, value in zip(keys, values, strict=True) if value
    }


def dispatch_idle(stack: Stack) -> bool:
    """Every task has run to its end: no batch task queued or running in the task book,
    nothing waiting in a broker queue, nothing handed to a worker and not yet acknowledged
    (tasks are acknowledged after they ran)."""
    client = redis.Redis.from_url(stack.redis.url)
    try:
        waiting = sum(int(client.llen(queue)) for queue in set(QUEUE_OF.values()))
        unacknowledged = int(client.hlen("unacked"))  # kombu's Redis transport keeps them here
    finally:
        client.close()
    done = all(state == DONE for state in task_states(stack).values())
    return waiting == 0 and unacknowledged == 0 and done


def takers(send_id: int, addresses: set[str]) -> set[str]:
    """The tasks that claimed the deliveries of ``addresses`` (kept on sent rows)."""
    with session_scope() as session:
        found = session.scalars(
            select(Delivery.claimed_by)
            .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
            .where(Delivery.send_id == send_id, Subscriber.email_key.in_(addresses))
        )
        return {str(task) for task in found}


def sessions_closed(stack: Stack, sessions: frozenset[int], send_id: int) -> None:
    """Wait until the SMTP server is done with ``sessions``: what their killed client
    had written is read (a DATA it had in full is accepted) and nothing more can come."""
    assert sessions, "no SMTP session was open at the kill"
    wait_for(
        lambda: not sessions & stack.smtp.open_sessions(),
        timeout=30,
        what="the killed worker's SMTP sessions to close",
        on_timeout=lambda: stack.diagnostics(send_id),
    )


def hold_mid_batch(stack: Stack, send_id: int, at_least: int) -> None:
    """Wait until ``at_least`` messages went out and a batch has sent unrecorded
    ones, then hold the server on the next RCPT (the caller releases it)."""
    wait_for(
        lambda: len(stack.smtp.messages) >= at_least and in_flight(stack, send_id),
        timeout=60,
        what="the send to be under way, mid-batch",
        on_timeout=lambda: stack.diagnostics(send_id),
    )
    stack.script.hold()
    wait_for(
        stack.script.held.is_set,
        timeout=30,
        what="the server to hold a RCPT",
        on_timeout=lambda: stack.diagnostics(send_id),
    )


def wait_finished(
    stack: Stack, send_id: int, *, timeout: float, recover_every: float | None = None
) -> None:
    """Wait for the send to finish; with ``recover_every``, do beat's job meanwhile:
    enqueue the recovery task through the broker every so often."""
    last_recover = time.monotonic()

    def finished() -> bool:
        nonlocal last_recover
        if recover_every is not None and time.monotonic() - last_recover >= recover_every:
            get_queue().enqueue("recover")
            last_recover = time.monotonic()
        return status_of(send_id) == "finished"

    wait_for(
        finished,
        timeout=timeout,
        interval=0.1,
        what=f"send {send_id} to finish",
        on_timeout=lambda: stack.diagnostics(send_id),
    )


def start_send(stack: Stack, count: int) -> int:
    """Subscribers, update, send; a worker started; planning enqueued via Redis."""
    add_subscribers(stack, count)
    send_id = create_send()
    stack.workers.start(CONCURRENCY)
    assert control.start_if_due(send_id)
    return send_id


def assert_finished_counts(send_id: int, planned: int) -> sends.SendCounts:
    counts = counts_of(send_id)
    assert status_of(send_id) == "finished"
    assert counts.planned == planned
    assert counts.pending == 0
    assert counts.sent + counts.failed + counts.skipped == counts.planned
    return counts


def assert_exactly_once(stack: Stack, addresses: set[str] | None = None) -> None:
    expected = set(stack.emails) if addresses is None else addresses
    accepted = stack.accepted()
    missed = sorted(expected - set(accepted))
    twice = sorted(a for a, n in accepted.items() if n > 1)
    strangers = sorted(set(accepted) - expected)
    assert not missed, f"{len(missed)} never received: {missed[:10]}"
    assert not twice, f"{len(twice)} received more than once: {twice[:10]}"
    assert not strangers, f"{len(strangers)} not in the audience received: {strangers[:10]}"


def first_listed_segment(roles: tuple[str, ...]) -> str:
    return next(s for s in SEGMENT_ORDER if s in roles)


def edition_patterns(send_id: int) -> dict[str, re.Pattern[str]]:
    """Per segment, a pattern every message of that edition's text part matches.

    The edition's text with its per-recipient placeholders as wildcards: all
    the literal text, in order, and nothing else.
    """
    placeholder = "|".join(re.escape(p) for p in (GREETING, UNSUBSCRIBE_URL, PREFERENCES_URL))
    patterns: dict[str, re.Pattern[str]] = {}
    with session_scope() as session:
        for edition in session.scalars(select(SendEdition).where(SendEdition.send_id == send_id)):
            pieces = re.split(placeholder, edition.text.replace("\r\n", "\n"))
            body = ".+?".join(re.escape(piece) for piece in pieces)
            patterns[edition.segment] = re.compile(body, re.DOTALL)
    return patterns


def test_two_thousand_in_overlapping_segments_get_one_message_each(stack: Stack) -> None:
    send_id = start_send(stack, 2000)
    wait_finished(stack, send_id, timeout=150)

    assert_exactly_once(stack)
    counts = assert_finished_counts(send_id, 2000)
    assert (counts.sent, counts.failed, counts.skipped) == (2000, 0, 0)

    # The documented JSON, from the real command.
    shown = subprocess.run(
        [sys.executable, "-m", "newsletter", "sends", "show", str(send_id), "--json"],
        cwd=REPO_ROOT,
        env=worker_environment(stack.settings),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    data = json.loads(shown.stdout)
    assert data == {
        "id": send_id,
        "status": "finished",
        "planned": 2000,
        "sent": 2000,
        "failed": 0,
        "skipped": 0,
        "pending": 0,
        "reason": None,
        "last_error": None,
        "reasons": [],
    }

    # Each message names its delivery; the delivery is the recipient's, and its
    # edition is that of the first listed segment the recipient is in.
    with session_scope() as session:
        rows = session.execute(
            select(Delivery.id, Delivery.segment, Subscriber.email_key).join(
                Subscriber, Subscriber.id == Delivery.subscriber_id
            )
        ).all()
    delivery_of = {int(i): (str(seg), str(addr)) for i, seg, addr in rows}
    patterns = edition_patterns(send_id)
    assert set(patterns) == set(SEGMENT_ORDER)
    seen_segments: Counter[str] = Counter()
    headers = BytesHeaderParser(policy=email.policy.default)
    for received in stack.smtp.messages:
        (address,) = received.rcpt_tos
        delivery_id = int(str(headers.parsebytes(received.data)["X-Newsletter-Delivery"]))
        segment, owner = delivery_of[delivery_id]
        assert owner == address.lower()
        assert segment == first_listed_segment(stack.emails[owner])
        message = email.message_from_bytes(received.data, policy=email.policy.default)
        assert message["To"].addresses[0].addr_spec.lower() == owner
        text_part = message.get_body(("plain",))
        assert text_part is not None
        text = str(text_part.get_content()).replace("\r\n", "\n")
        assert patterns[segment].fullmatch(text), f"{owner} did not get the {segment} edition"
        seen_segments[segment] += 1
    # Every edition was really used (the role mix puts people first in each).
    assert set(seen_segments) == set(SEGMENT_ORDER)


def test_planning_published_without_celery_is_run_by_a_celery_worker_once(stack: Stack) -> None:
    """A plan task written straight to Redis (no Celery client) is a Celery task like any.

    The message is published before any worker is up, as ``newsletter send``
    does; the worker started afterwards runs it under the id it was given, and
    every batch it enqueues (published the same way) delivers each message once.
    """
    add_subscribers(stack, 300)
    send_id = create_send()
    task_id = task_message.publish(
        stack.redis.url, "newsletter.plan_send", [send_id], QUEUE_OF["plan_send"]
    )
    stack.workers.start(CONCURRENCY)
    wait_finished(stack, send_id, timeout=60)

    assert_exactly_once(stack)
    assert assert_finished_counts(send_id, 300).sent == 300
    assert f"newsletter.plan_send[{task_id}] succeeded" in stack.workers.logs()
    wait_for(lambda: dispatch_idle(stack), timeout=30, what="every task acknowledged")


def test_451_to_one_message_in_five_still_delivers_each_once(stack: Stack) -> None:
    stack.script.answer = lambda address, n: (451, "4.7.1 try again later") if n % 5 == 0 else None
    send_id = start_send(stack, 400)
    wait_finished(stack, send_id, timeout=90)

    assert_exactly_once(stack)
    counts = assert_finished_counts(send_id, 400)
    assert counts.sent == 400
    refused = sum(stack.script.refused.values())
    assert refused >= 400 // 5 - 1, "the server should have refused one RCPT in five"
    with session_scope() as session:
        retried = session.scalar(
            select(func.count()).where(Delivery.send_id == send_id, Delivery.attempts > 0)
        )
    # Each 451 was recorded as a failed try of one delivery, later retried.
    assert retried == len(stack.script.refused)


def test_550_addresses_fail_are_suppressed_and_not_retried(stack: Stack) -> None:
    count = 300
    bad = {f"reader{i:05d}" for i in range(count) if i % 9 == 4}

    def answer(address: str, n: int) -> Reply | None:
        return (550, "5.1.1 no such mailbox") if address.split("@")[0] in bad else None

    stack.script.answer = answer
    send_id = start_send(stack, count)
    wait_finished(stack, send_id, timeout=90)

    refused = {a for a in stack.emails if a.split("@")[0] in bad}
    assert len(refused) == len(bad)
    assert_exactly_once(stack, set(stack.emails) - refused)
    counts = assert_finished_counts(send_id, count)
    assert (counts.sent, counts.failed) == (count - len(refused), len(refused))
    # Tried once each: a 5xx is never retried.
    assert {a: stack.script.attempts[a] for a in refused} == dict.fromkeys(refused, 1)
    with session_scope() as session:
        failed = session.execute(
            select(Subscriber.email_key, Subscriber.status, Delivery.attempts, Delivery.error)
            .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
            .where(Delivery.send_id == send_id, Delivery.status == "failed")
        ).all()
        suppressed = set(session.scalars(select(Suppression.email_key)))
    assert {row[0] for row in failed} == refused
    for address, status, attempts, error in failed:
        assert status == "bounced", address
        assert attempts == 1, address
        assert "550" in str(error), error
    assert suppressed == refused


def test_pause_mid_send_then_resume_sends_each_once(stack: Stack) -> None:
    stack.script.delay = 0.004
    send_id = start_send(stack, 600)
    wait_for(
        lambda: len(stack.smtp.messages) >= 120,
        timeout=60,
        what="the send to be under way",
        on_timeout=lambda: stack.diagnostics(send_id),
    )
    before = stack.accepted()
    control.pause(send_id)
    # A task marks itself running before it reads the send's status: one that is not
    # running now reads "paused" and must send nothing.
    running = {task for task, state in task_states(stack).items() if state == RUNNING}
    assert running, "no batch was running at the pause: make the send slower"
    # Batches in flight stop at their next record and give their rows back; the batches
    # still queued run, see the pause and end.  Then nothing is left that could send.
    wait_for(
        lambda: not claimed_rows(send_id) and dispatch_idle(stack),
        timeout=60,
        what="batches to stop and every queued task to have run",
        on_timeout=lambda: stack.diagnostics(send_id),
    )
    after = stack.accepted()
    since_pause = {address for address, n in after.items() if n > before[address]}
    assert takers(send_id, since_pause) <= running, "a batch started after the pause sent"
    at_pause = len(stack.smtp.messages)
    assert status_of(send_id) == "paused"
    paused_counts = counts_of(send_id)
    assert paused_counts.pending > 0, "the send finished before the pause: make it slower"
    assert paused_counts.sent == at_pause

    assert control.resume(send_id) == "sending"
    wait_finished(stack, send_id, timeout=90)
    assert_exactly_once(stack)
    assert assert_finished_counts(send_id, 600).sent == 600


def test_sigkill_of_the_worker_mid_send_misses_nobody(stack: Stack) -> None:
    stack.script.delay = 0.004
    send_id = start_send(stack, 800)
    first = stack.workers.workers[0]
    hold_mid_batch(stack, send_id, 200)
    at_kill = stack.smtp.open_sessions()
    first.kill()
    stack.script.release()
    sessions_closed(stack, at_kill, send_id)
    sent_unrecorded = in_flight(stack, send_id)
    assert claimed_rows(send_id), "the kill missed the batches: make the send slower"
    assert len(sent_unrecorded) <= CONCURRENCY * UNRECORDED_LIMIT
    assert counts_of(send_id).pending > 0, "the send finished before the kill: make it slower"

    # The new worker takes the queued batches; recovery takes back the dead
    # worker's claims once they are older than the claim timeout.
    stack.workers.start(CONCURRENCY)
    wait_finished(stack, send_id, timeout=120, recover_every=2.0)

    accepted = stack.accepted()
    assert set(accepted) == set(stack.emails), "somebody was missed"
    twice = {a for a, n in accepted.items() if n > 1}
    assert all(accepted[a] == 2 for a in twice)
    assert twice <= sent_unrecorded, "a duplicate that was not in flight at the kill"
    # The result journal names what went out: at most the message on each
    # SMTP connection at the kill can go twice, not a recording group's worth.
    assert len(twice) <= CONCURRENCY, twice
    assert assert_finished_counts(send_id, 800).sent == 800


def test_sigkill_of_pool_processes_is_redelivered_and_resumed(stack: Stack) -> None:
    """The main process lives: acks_late + reject_on_worker_lost put each lost task
    back at once, under the same id.  Its killed run's lease is still in Redis
    until it lapses, and a lease is exclusive (a live run and a dead one look
    alike to the copy), so the copy ends without sending; recovery then takes
    the rows back once the lease lapsed, as for a whole worker killed."""
    stack.script.delay = 0.004
    send_id = start_send(stack, 600)
    worker = stack.workers.workers[0]
    hold_mid_batch(stack, send_id, 150)
    at_kill = stack.smtp.open_sessions()
    killed = worker.kill_pool()
    stack.script.release()
    assert len(killed) == CONCURRENCY
    sessions_closed(stack, at_kill, send_id)
    sent_unrecorded = in_flight(stack, send_id)
    assert claimed_rows(send_id), "the kill missed the batches: make the send slower"
    assert len(sent_unrecorded) <= CONCURRENCY * UNRECORDED_LIMIT
    assert counts_of(send_id).pending > 0, "the send finished before the kill: make it slower"

    wait_finished(stack, send_id, timeout=90, recover_every=2.0)
    accepted = stack.accepted()
    assert set(accepted) == set(stack.emails), "somebody was missed"
    twice = {a for a, n in accepted.items() if n > 1}
    assert all(accepted[a] == 2 for a in twice)
    assert twice <= sent_unrecorded, "a duplicate that was not in flight at the kill"
    assert len(twice) <= CONCURRENCY, twice
    assert assert_finished_counts(send_id, 600).sent == 600
    assert worker.process.poll() is None, "the main process should have survived"


@pytest.mark.parametrize("pacing", ["slow-server", "shared-rate-limit"])
def test_redis_restart_mid_send_still_finishes(stack: Stack, pacing: str) -> None:
    """The broker forgets every queued and unacknowledged task; recovery re-enqueues.

    With a rate limit the workers' shared counters live in that same Redis,
    so batches in flight meet the outage too, not only the queues.
    """
    if pacing == "slow-server":
        stack.script.delay = 0.004
    else:
        stack.workers.env["NEWSLETTER_RATE_PER_SECOND"] = "150"
    send_id = start_send(stack, 600)
    wait_for(
        lambda: len(stack.smtp.messages) >= 150,
        timeout=60,
        what="the send to be under way",
        on_timeout=lambda: stack.diagnostics(send_id),
    )
    stack.redis.restart(down_for=1.0)
    assert counts_of(send_id).pending > 0, "the send finished before the restart"

    wait_finished(stack, send_id, timeout=120, recover_every=2.0)
    assert_exactly_once(stack)
    assert assert_finished_counts(send_id, 600).sent == 600


def deliveries_of_each_task(stack: Stack) -> Counter[str]:
    """How many times the workers were handed each batch task (by task id), from their logs."""
    logs = "\n".join(w.log_path.read_text(errors="replace") for w in stack.workers.workers)
    return Counter(re.findall(r"Task newsletter\.deliver_batch\[([0-9a-f-]+)\] received", logs))


def test_a_batch_outliving_the_visibility_timeout_sends_each_message_once(stack: Stack) -> None:
    """The broker hands a task unacknowledged longer than its visibility timeout to
    another worker, under the same id, while the first copy still sends it: the
    copy finds the lease held and ends; the first copy sends every row, once."""
    # Two batches of 60 sharing 10 messages a second: each runs about 12 s, four
    # times the visibility timeout, so the broker hands out copies of both.
    stack.workers.env.update(
        NEWSLETTER_BROKER_VISIBILITY_TIMEOUT_SECONDS="3",
        NEWSLETTER_RATE_PER_SECOND="10",
        NEWSLETTER_BATCH_SIZE="60",
    )
    send_id = start_send(stack, 120)
    stack.workers.start(CONCURRENCY)
    wait_finished(stack, send_id, timeout=120)
    wait_for(
        lambda: dispatch_idle(stack),
        timeout=60,
        what="every task acknowledged",
        on_timeout=lambda: stack.diagnostics(send_id),
    )

    redelivered = {task for task, n in deliveries_of_each_task(stack).items() if n > 1}
    assert redelivered, "no batch was handed out twice: make the batches slower"
    assert_exactly_once(stack)
    assert assert_finished_counts(send_id, 120).sent == 120
