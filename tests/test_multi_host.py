"""Several hosts: workers on two machines, database, broker and mail server on a third.

The machines are Linux network namespaces joined by veth pairs (see
tests/netns_cluster.py): separate network stacks, so a worker reaches
PostgreSQL, Redis and the SMTP server only over its link, as it would across
a LAN.  Real ``newsletter worker`` processes (Celery prefork) run on the two
worker hosts; the data host runs its own PostgreSQL, redis-server and a
recording SMTP sink, which notes the client address of every message, so the
test sees which host sent what.

Checked: a send finishes with every subscriber receiving exactly one message
and both hosts sending; the shared rate limit holds for the hosts together
(two hosts do not get twice the budget); and when every process of one worker
host is killed mid-send, the other host finishes it and nobody is missed
(duplicates only among messages in flight at the kill).

The module skips only where network namespaces cannot be created.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery_harness import wait_for
from netns_cluster import Cluster, Host, NamespacesUnavailableError, probe_namespaces
from sqlalchemy import create_engine, text

from newsletter import sends
from newsletter.config import reset_settings
from newsletter.db import engine_for, reset_engines, session_scope
from newsletter.dispatch import control
from newsletter.dispatch.queue import get_queue
from newsletter.dispatch.recording import UNRECORDED_LIMIT
from newsletter.ingest import parse_file
from newsletter.migrate import upgrade_to_head
from newsletter.segments import ensure_builtins
from newsletter.subscribers import SubscriberInput, upsert
from newsletter.updates import store_update

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLE = REPO_ROOT / "newsletter" / "data" / "samples" / "north-east-2018-12.txt"
SEGMENTS = ["dcs", "lead-member", "workforce-lead"]
ROLES = (("DCS",), ("Lead Member",), ("Workforce Lead",), ("DCS", "Lead Member"))
CONCURRENCY = 2  # pool processes per worker host


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """The three hosts, built once for the module and always taken down."""
    try:
        probe_namespaces()
    except NamespacesUnavailableError as exc:
        pytest.skip(f"network namespaces cannot be created here: {exc}")
    built = Cluster(tmp_path_factory.mktemp("hosts"))
    try:
        built.build()
        yield built
    finally:
        built.destroy()


class Deployment:
    """One test's database on the data host, and the workers started for it."""

    def __init__(self, cluster: Cluster, log_dir: Path) -> None:
        self.cluster = cluster
        self.log_dir = log_dir
        self.database = f"newsletter_{uuid.uuid4().hex[:8]}"
        self.emails: set[str] = set()
        self.sink_offset = len(cluster.accepted())

    def create_store(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Create and migrate the database; point this process at the data host."""
        admin = create_engine(self.cluster.database_url("postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self.database}"'))
        admin.dispose()
        url = self.cluster.database_url(self.database)
        upgrade_to_head(engine_for(url))
        with session_scope(engine_for(url)) as session:
            ensure_builtins(session)
        monkeypatch.setenv("NEWSLETTER_DATABASE_URL", url)
        monkeypatch.setenv("NEWSLETTER_BROKER_URL", self.cluster.redis_url())
        monkeypatch.setenv("NEWSLETTER_SMTP_URL", self.cluster.smtp_url())
        reset_settings()

    def start_worker(self, host: Host, **settings: str) -> None:
        """``newsletter worker`` on ``host``, configured with the data host's addresses."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
        env.update(
            {
                "NEWSLETTER_DATABASE_URL": self.cluster.database_url(self.database, from_host=host),
                "NEWSLETTER_BROKER_URL": self.cluster.redis_url(from_host=host),
                "NEWSLETTER_SMTP_URL": self.cluster.smtp_url(from_host=host),
                "NEWSLETTER_BATCH_SIZE": "50",
                "NEWSLETTER_CLAIM_TIMEOUT_SECONDS": "5",
                "NEWSLETTER_REQUEUE_AFTER_SECONDS": "2",
                "PYTHONUNBUFFERED": "1",
                **settings,
            }
        )
        log = self.log_dir / f"worker-{host.namespace}.log"
        process = host.start(
            [sys.executable, "-m", "newsletter", "worker", "--concurrency", str(CONCURRENCY),
             "--queues", "plan,deliver,maintenance", "--loglevel", "info"],
            log,
            env,
        )  # fmt: skip

        def ready() -> bool:
            if process.poll() is not None:
                pytest.fail(f"the worker on {host.namespace} exited:\n{log.read_text()[-3000:]}")
            return " ready." in log.read_text(errors="replace")

        wait_for(
            ready,
            timeout=90,
            what=f"the worker on {host.namespace}",
            on_timeout=lambda: log.read_text(errors="replace")[-3000:],
        )

    def add_subscribers(self, count: int) -> None:
        people = [
            SubscriberInput.build(
                f"reader{i:05d}@durham.gov.uk", name=f"Reader {i}", roles=ROLES[i % len(ROLES)]
            )
            for i in range(count)
        ]
        self.emails = {p.email_key for p in people}
        with session_scope() as session:
            upsert(session, people, default_status="active", consent_source="test")

    def start_send(self) -> int:
        with session_scope() as session:
            record = store_update(session, parse_file(SAMPLE).update, source_name=SAMPLE.name)
            send_id = sends.create_send(session, update_id=record.id, segments=SEGMENTS).id
        assert control.start_if_due(send_id)
        return send_id

    def accepted(self) -> list[tuple[float, str, str]]:
        """What the sink accepted since this test began."""
        return self.cluster.accepted()[self.sink_offset :]

    def status(self, send_id: int) -> str:
        with session_scope() as session:
            return sends.get_send(session, send_id).status

    def counts(self, send_id: int) -> sends.SendCounts:
        with session_scope() as session:
            return sends.counts(session, send_id)

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name} ---\n{p.read_text(errors='replace')[-2500:]}"
            for p in sorted(self.log_dir.glob("worker-*.log"))
        )

    def wait_finished(self, send_id: int, *, timeout: float, recover_every: float | None) -> None:
        """Wait for the send to finish, doing beat's recovery job meanwhile if asked."""
        last = time.monotonic()

        def finished() -> bool:
            nonlocal last
            if recover_every is not None and time.monotonic() - last >= recover_every:
                get_queue().enqueue("recover")
                last = time.monotonic()
            return self.status(send_id) == "finished"

        wait_for(
            finished,
            timeout=timeout,
            interval=0.2,
            what=f"send {send_id} to finish",
            on_timeout=lambda: f"{self.counts(send_id)}\n{self.logs()}",
        )


@pytest.fixture
def deployment(
    cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Deployment]:
    made = Deployment(cluster, tmp_path)
    try:
        made.create_store(monkeypatch)
        yield made
    finally:
        for host in cluster.workers:
            host.kill_everything()
        reset_engines()
        reset_settings()


def test_send_across_two_worker_hosts_is_exactly_once_within_the_shared_rate(
    cluster: Cluster, deployment: Deployment
) -> None:
    rate, count = 100, 700
    for host in cluster.workers:
        deployment.start_worker(host, NEWSLETTER_RATE_PER_SECOND=str(rate))
    deployment.add_subscribers(count)
    send_id = deployment.start_send()
    deployment.wait_finished(send_id, timeout=120, recover_every=None)

    accepted = deployment.accepted()
    per_address = Counter(rcpt for _, _, rcpt in accepted)
    assert set(per_address) == deployment.emails, "missed or unexpected recipients"
    assert max(per_address.values()) == 1, "somebody received twice"
    counts = deployment.counts(send_id)
    assert (counts.planned, counts.sent, counts.pending) == (count, count, 0)

    by_host = Counter(client for _, client, _ in accepted)
    assert set(by_host) == {h.address for h in cluster.workers}, f"senders: {by_host}"
    # One budget for both hosts: `rate` per second-window in all.  Two
    # budgets would let the pair finish in about count / (2 * rate) seconds.
    times = sorted(t for t, _, _ in accepted)
    span = times[-1] - times[0]
    assert span >= count / rate - 2, f"{count} messages in {span:.1f} s: faster than {rate}/s"
    busiest = max(sum(1 for t in times[i:] if t < start + 1.0) for i, start in enumerate(times))
    assert busiest <= 2 * rate, f"{busiest} messages within one second"


def test_killing_a_worker_host_mid_send_loses_nothing(
    cluster: Cluster, deployment: Deployment
) -> None:
    count = 900
    for host in cluster.workers:
        deployment.start_worker(host, NEWSLETTER_RATE_PER_SECOND="150")
    deployment.add_subscribers(count)
    send_id = deployment.start_send()
    survivor, victim = cluster.workers
    wait_for(
        lambda: Counter(c for _, c, _ in deployment.accepted())[victim.address] >= 60,
        timeout=60,
        what="the second worker host to be sending",
        on_timeout=deployment.logs,
    )
    killed = victim.kill_everything()
    assert killed, "no process was running on the victim host"
    at_kill = deployment.counts(send_id)
    assert at_kill.pending > 0, "the send finished before the kill: make it slower"

    # The survivor takes the queued batches; recovery (beat's job, done here)
    # takes back what the dead host had claimed once its claims are stale.
    deployment.wait_finished(send_id, timeout=180, recover_every=2.0)
    accepted = deployment.accepted()
    per_address = Counter(rcpt for _, _, rcpt in accepted)
    assert set(per_address) == deployment.emails, "somebody was missed"
    twice = [a for a, n in per_address.items() if n > 1]
    assert all(per_address[a] == 2 for a in twice)
    assert len(twice) <= CONCURRENCY * UNRECORDED_LIMIT, f"{len(twice)} sent twice"
    victim_last = max(t for t, c, _ in accepted if c == victim.address)
    assert any(t > victim_last and c == survivor.address for t, c, _ in accepted)
    counts = deployment.counts(send_id)
    assert (counts.planned, counts.sent, counts.pending) == (count, count, 0)
