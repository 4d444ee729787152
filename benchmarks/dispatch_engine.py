"""Measure (c): ``newsletter send`` through real Celery worker processes and Redis.

A fresh ``newsletter worker`` (Celery prefork, P processes) is started and
waited for until it says it is ready.  The clock starts when the
``newsletter send UPDATE --segment …`` command is launched and stops at the
send's ``finished_at`` (written by the worker that finished it).  Meanwhile
the worker tree's resident memory is sampled and CPU time is read from
/proc per process group: the worker tree, the send command, this store's
own PostgreSQL backends (by pid from ``pg_stat_activity`` for the scratch
database, so other databases' load on the same server is not charged),
Redis and the sink.  A third of the way through (by the sink's bytes) it
times ``newsletter sends show`` and the console's send page, as an organiser
would look at a running send.  Optionally py-spy records the worker tree
(``--profile``).
"""

from __future__ import annotations

import contextlib
import os
import re
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dispatch_procs import (
    CpuMeter,
    RssSampler,
    Service,
    SmtpSink,
    high_water_kb,
    process_tree,
)
from dispatch_store import SEGMENTS, Store
from sqlalchemy import create_engine, delete, func, make_url, select, text
from sqlalchemy.pool import NullPool

from newsletter import sends
from newsletter.db import engine_for, session_scope
from newsletter.dispatch import control
from newsletter.models import Delivery, Organiser, Send

FINAL = ("finished", "cancelled", "paused")


@dataclass
class EngineRun:
    """What one engine send measured."""

    n: int
    seconds: float
    received_bytes: int
    counts: sends.SendCounts
    status: str
    timeline: dict[str, float]
    cpu: dict[str, float]
    machine_busy: float
    machine_total: float
    peak_rss_kb: int
    high_water_kb: dict[int, int]
    worker_pid: int
    profile: list[tuple[str, float, float]] = field(default_factory=list)
    database_profile: list[tuple[str, float]] = field(default_factory=list)
    probes: dict[str, float] = field(default_factory=dict)
    deliveries_bytes: int | None = None  # PostgreSQL: the table with its indexes and TOAST

    @property
    def first_message(self) -> float:
        """Seconds from the command's launch to the first delivery recorded."""
        return self.timeline.get("first message recorded", float("nan"))

    @property
    def steady_rate(self) -> float:
        """Messages per second between the first and the last delivery recorded."""
        first = self.timeline.get("first message recorded")
        last = self.timeline.get("last message recorded")
        if first is None or last is None or last <= first:
            return float("nan")
        return (self.counts.sent - 1) / (last - first)

    @property
    def rate(self) -> float:
        """Messages sent per second, command launch to send finished (or cancelled)."""
        return self.counts.sent / self.seconds if self.seconds > 0 else 0.0

    @property
    def worker_high_water_kb(self) -> int:
        """Sum of the worker processes' VmHWM (each process's own peak)."""
        return sum(self.high_water_kb.values())


def newsletter_command() -> list[str]:
    """The ``newsletter`` console script of this interpreter's environment."""
    script = Path(sys.executable).with_name("newsletter")
    return [str(script)] if script.exists() else [sys.executable, "-m", "newsletter"]


def start_worker(env: dict[str, str], concurrency: int, log: Path) -> Service:
    """``newsletter worker`` with ``concurrency`` processes; returns once it is ready."""
    with log.open("wb") as output:
        worker = Service(
            "celery worker",
            [*newsletter_command(), "worker", f"--concurrency={concurrency}", "--loglevel=info"],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 90
    while b" ready." not in log.read_bytes():
        if worker.process.poll() is not None or time.monotonic() > deadline:
            worker.stop()
            tail = log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"the Celery worker did not become ready:\n{tail}")
        time.sleep(0.1)
    # The prefork pool forks its children before "ready"; wait until all are there.
    while len(process_tree(worker.pid)) < concurrency + 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    return worker


def start_profiler(pid: int, output: Path) -> subprocess.Popen[bytes] | None:
    """py-spy recording the worker tree as collapsed stacks, if py-spy is installed."""
    binary = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(binary).exists():
        print("  (py-spy is not installed: pip install py-spy; no profile taken)")
        return None
    return subprocess.Popen(
        [
            binary,
            "record",
            "--pid",
            str(pid),
            "--subprocesses",
            "--rate",
            "250",
            "--format",
            "raw",
            "--nonblocking",
            "--output",
            str(output),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


# Library frames worth naming in the profile: where the time under the engine goes.
LIBRARY_FRAMES = (
    "SMTP.sendmail (smtplib.py)",
    "_quote_periods (smtplib.py)",
    "_fix_eols (smtplib.py)",
    "SMTP.send (smtplib.py)",
    "SMTP.getreply (smtplib.py)",
    "Connection.wait (psycopg/connection.py)",
    "Session.commit (sqlalchemy/orm/session.py)",
    "Session.execute (sqlalchemy/orm/session.py)",
    "SQLCompiler.__init__ (sqlalchemy/sql/compiler.py)",
    "Connection.execute (sqlalchemy/engine/base.py)",
    "Engine.raw_connection (sqlalchemy/engine/base.py)",
    "Task.__call__ (celery/app/task.py)",
    "trace_task (celery/app/trace.py)",
)
PROJECT = ("newsletter/", "workers/")


def summarise_profile(path: Path, top: int = 30) -> list[tuple[str, float, float]]:
    """(function, inclusive %, self %) from py-spy's collapsed stacks of the worker tree.

    Lists the project's own functions (newsletter/, workers/; not the CLI
    that starts the worker) and the library calls in :data:`LIBRARY_FRAMES`,
    busiest first, plus the share of samples in the Celery main process.
    Percentages are of all samples py-spy took while the threads were not
    idle (py-spy's own judgement), in all worker processes together.
    """
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = main_process = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        frames = stack.split(";")
        count = int(count_text)
        total += count
        # A pool child's stacks start with the main process, then the child's
        # "process" frame; a lone "process" frame is a sample with no Python stack.
        if len(frames) < 2 or not frames[1].startswith("process "):
            main_process += count
        names = [_short(f) for f in frames if not f.startswith("process ")] or ["(no frame)"]
        own[names[-1]] += count
        for name in set(names):
            inclusive[name] += count
    if not total:
        return []
    wanted = [
        name
        for name in inclusive
        if name in LIBRARY_FRAMES
        or (name.split(" (", 1)[-1].startswith(PROJECT) and "/cli/" not in name)
    ]
    ranked = sorted(wanted, key=lambda name: inclusive[name], reverse=True)[:top]
    rows = [("Celery main process (consumer, not the pool)", 100 * main_process / total, 0.0)]
    rows += [(name, 100 * inclusive[name] / total, 100 * own[name] / total) for name in ranked]
    return rows


def _short(frame: str) -> str:
    """``function (path/to/site-packages/pkg/module.py:12)`` → ``function (pkg/module.py)``."""
    name, _, where = frame.partition(" (")
    where = where.rsplit(":", 1)[0].rstrip(")")
    return f"{name} ({where})" if where else name


class ActiveQuerySampler(threading.Thread):
    """Counts which statements PostgreSQL is running, sampled every 20 ms.

    A poor man's profile of the database side (no extension needed): the
    statements most often seen active in ``pg_stat_activity`` are where the
    server spends its time on this send.
    """

    def __init__(self, url: str) -> None:
        super().__init__(name="pg-activity", daemon=True)
        self.url = url
        self.seen: Counter[str] = Counter()
        self.samples = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        query = text(
            "SELECT query FROM pg_stat_activity WHERE state = 'active' "
            "AND datname = current_database() AND pid <> pg_backend_pid()"
        )
        with engine_for(self.url).connect() as conn:
            while not self._stop_event.is_set():
                for (statement,) in conn.execute(query):
                    self.seen[" ".join(str(statement).split())[:150]] += 1
                conn.rollback()
                self.samples += 1
                self._stop_event.wait(0.02)

    def stop(self) -> list[tuple[str, float]]:
        """End sampling; returns (statement, % of samples it was running in), busiest first."""
        self._stop_event.set()
        self.join()
        total = max(self.samples, 1)
        return [(q, 100 * n / total) for q, n in self.seen.most_common(8)]


class DatabaseBackends:
    """Pids of the PostgreSQL backends serving one database, from pg_stat_activity.

    Holds one connection of its own (to the ``postgres`` database, so it is
    not one of the backends it reports).
    """

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        self.database = parsed.database
        self.engine = create_engine(parsed.set(database="postgres"), poolclass=NullPool)
        self.conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        self._lock = threading.Lock()

    def __call__(self) -> list[int]:
        with self._lock:
            rows = self.conn.execute(
                text("SELECT pid FROM pg_stat_activity WHERE datname = :db"),
                {"db": self.database},
            )
            return [int(pid) for (pid,) in rows]

    def close(self) -> None:
        self.conn.close()
        self.engine.dispose()


class LoadProbe(threading.Thread):
    """Once the sink has read ``threshold`` bytes, times what an organiser looks at.

    ``newsletter sends show ID`` (a fresh CLI process, as typed) and the
    console's send page (the web app in this process, signed in as an
    organiser, through its test client), while the send is running.
    """

    def __init__(self, sink: SmtpSink, threshold: int, env: dict[str, str], url: str) -> None:
        super().__init__(name="load-probe", daemon=True)
        self.sink, self.threshold, self.env, self.url = sink, threshold, env, url
        self.send_id: int | None = None
        self.seconds: dict[str, float] = {}
        self.error = ""
        self._stop_event = threading.Event()
        self._client = _console_client(url)

    def run(self) -> None:
        while self.sink.bytes_read < self.threshold or self.send_id is None:
            if self._stop_event.wait(0.05):
                return
        try:
            began = time.monotonic()
            subprocess.run(
                [*newsletter_command(), "sends", "show", str(self.send_id)],
                env=self.env,
                capture_output=True,
                check=True,
            )
            self.seconds["`newsletter sends show`"] = time.monotonic() - began
            began = time.monotonic()
            response = self._client.get(f"/console/sends/{self.send_id}")
            self.seconds["console send page"] = time.monotonic() - began
            if response.status_code != 200:
                self.error = f"console send page answered {response.status_code}"
            began = time.monotonic()
            self._client.get(f"/console/sends/{self.send_id}/progress")
            self.seconds["console progress poll"] = time.monotonic() - began
        except Exception as exc:  # reported with the figures, never hides the run
            self.error = f"{type(exc).__name__}: {exc}"

    def stop(self) -> None:
        self._stop_event.set()
        self.join(120)
        self._client.close()


PROBE_ORGANISER = ("bench@newsletter.example.org", "benchmark-password-1")


def _console_client(url: str) -> Any:
    """A test client of the web app on ``url``, signed in as a benchmark organiser."""
    from fastapi.testclient import TestClient

    from newsletter.config import Settings
    from newsletter.organisers import create_organiser
    from newsletter.web import create_app

    with session_scope(engine_for(url)) as session:
        # The probe of an earlier run on the same store goes first: each run
        # signs in afresh, so run_engine can be called again and again.
        session.execute(delete(Organiser).where(Organiser.email == PROBE_ORGANISER[0]))
        create_organiser(session, *PROBE_ORGANISER)
    client = TestClient(create_app(Settings(database_url=url), start_worker=False))
    page = client.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    if token is None:
        raise RuntimeError("no CSRF token on the login page")
    email, password = PROBE_ORGANISER
    response = client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": token.group(1)},
        follow_redirects=False,
    )
    if response.status_code != 303:
        raise RuntimeError(f"benchmark organiser could not sign in: {response.status_code}")
    return client


def run_engine(
    store: Store,
    *,
    broker_url: str,
    sink: SmtpSink,
    redis_pid: int,
    concurrency: int,
    folder: Path,
    profile_dir: Path | None = None,
    message_size: int = 25_000,
    time_limit: float | None = None,
) -> EngineRun:
    """Send the stored update to the three segments through Celery; see the module doc."""
    env = {
        **os.environ,
        "NEWSLETTER_DATABASE_URL": store.url,
        "NEWSLETTER_BROKER_URL": broker_url,
        "NEWSLETTER_SMTP_URL": f"smtp://127.0.0.1:{sink.port}",
        # Workers refuse to start without a strong key; a throwaway one per run.
        "NEWSLETTER_SECRET_KEY": os.environ.get("NEWSLETTER_SECRET_KEY")
        or secrets.token_urlsafe(48),
    }
    worker = start_worker(env, concurrency, folder / f"worker-{store.subscribers}.log")
    profiler = None
    backends = DatabaseBackends(store.url) if store.kind == "PostgreSQL" else None
    # Probe a third of the way through, or after 20,000 messages on a big send.
    probe_at = min(store.subscribers // 3, 20_000) * message_size
    probe = LoadProbe(sink, sink.bytes_read + probe_at, env, store.url)
    try:
        meter = CpuMeter(
            {
                "workers": lambda: process_tree(worker.pid),
                "postgres (this database)": backends if backends is not None else list,
                "redis": lambda: [redis_pid],
                "sink": lambda: [sink.pid],
            }
        )
        sampler = RssSampler(worker.pid, meter)
        if profile_dir is not None:
            profile_dir.mkdir(parents=True, exist_ok=True)
            profiler = start_profiler(worker.pid, profile_dir / f"engine-{store.subscribers}.txt")
            time.sleep(1.0)  # let py-spy attach before the clock starts
        sampler.start()
        queries = None
        if profile_dir is not None and store.kind == "PostgreSQL":
            queries = ActiveQuerySampler(store.url)
            queries.start()
        sink_before = sink.bytes_read
        probe.start()
        children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        meter.start()
        launched = datetime.now(UTC)
        command = subprocess.run(
            [
                *newsletter_command(),
                "send",
                "--yes",
                str(store.update_id),
                *(a for s in SEGMENTS for a in ("--segment", s)),
            ],
            env=env,
            capture_output=True,
            check=True,
        )
        sent_by = resource.getrusage(resource.RUSAGE_CHILDREN)
        send_id = int(command.stdout.split()[0])
        probe.send_id = send_id
        try:
            status = _wait_until_final(
                store.url,
                send_id,
                timeout=max(120.0, store.subscribers / 50),
                time_limit=time_limit,
            )
        except TimeoutError:
            log = (folder / f"worker-{store.subscribers}.log").read_text(errors="replace")
            print(f"--- worker log (last 4000 characters) ---\n{log[-4000:]}")
            raise
        meter.stop()
        sampler.stop()
        probe.stop()
        database_profile = queries.stop() if queries is not None else []
        high_water = high_water_kb(sampler.pids)
        received = sink.bytes_read - sink_before
        meter.used["send command"] = (sent_by.ru_utime + sent_by.ru_stime) - (
            children_before.ru_utime + children_before.ru_stime
        )
        with session_scope(engine_for(store.url)) as session:
            send = sends.get_send(session, send_id)
            counts = sends.counts(session, send_id)
            first, last = session.execute(
                select(func.min(Delivery.finished_at), func.max(Delivery.finished_at)).where(
                    Delivery.send_id == send_id
                )
            ).one()
            deliveries_bytes = None
            if store.kind == "PostgreSQL":
                deliveries_bytes = session.scalar(
                    text("SELECT pg_total_relation_size('deliveries')")
                )
            moments = {
                "command launched": launched,
                "send row created": send.created_at,
                "planning started": send.started_at,
                "first message recorded": first,
                "last message recorded": last,
                "send finished": send.finished_at,
            }
        timeline = {
            label: (moment - launched).total_seconds()
            for label, moment in moments.items()
            if moment is not None
        }
    finally:
        if profiler is not None:
            with contextlib.suppress(ProcessLookupError):
                profiler.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
            try:
                profiler.wait(60)
            except subprocess.TimeoutExpired:
                profiler.kill()
                profiler.wait()
        worker.stop()
        if backends is not None:
            backends.close()
    probes = dict(probe.seconds)
    if probe.error:
        print(f"    (probe under load failed: {probe.error})")
    elif not probes:
        print("    (the send finished before a third of it reached the sink: no probe)")
    profile = []
    if profile_dir is not None and (profile_dir / f"engine-{store.subscribers}.txt").exists():
        profile = summarise_profile(profile_dir / f"engine-{store.subscribers}.txt")
    return EngineRun(
        n=store.subscribers,
        seconds=timeline.get("send finished", float("nan")),
        received_bytes=received,
        counts=counts,
        status=status,
        timeline=timeline,
        cpu=meter.used,
        machine_busy=meter.machine_busy,
        machine_total=meter.machine_total,
        peak_rss_kb=sampler.peak_kb,
        high_water_kb=high_water,
        worker_pid=worker.pid,
        profile=profile,
        database_profile=database_profile,
        probes=probes,
        deliveries_bytes=deliveries_bytes,
    )


def _wait_until_final(
    url: str, send_id: int, timeout: float, time_limit: float | None = None
) -> str:
    """Poll the send's status (every 0.2 s) until it finishes, is cancelled or pauses.

    With ``time_limit``, a send still running after that many seconds is
    cancelled (a partial run: the figures so far are reported as such).
    """
    deadline = time.monotonic() + timeout
    stop_at = None if time_limit is None else time.monotonic() + time_limit
    while True:
        if stop_at is not None and time.monotonic() > stop_at:
            print(
                f"    time limit of {time_limit:.0f} s reached: cancelling the send (PARTIAL run)"
            )
            control.cancel(send_id)  # the store fill_store() made the default
            stop_at = None
        with session_scope(engine_for(url)) as session:
            status = session.scalar(select(Send.status).where(Send.id == send_id))
        if status in FINAL:
            return str(status)
        if time.monotonic() > deadline:
            with session_scope(engine_for(url)) as session:
                counts = sends.counts(session, send_id)
            raise TimeoutError(f"send {send_id} still {status} after {timeout:.0f} s: {counts}")
        time.sleep(0.2)
