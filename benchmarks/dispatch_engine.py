"""Measure (c): ``newsletter send`` through real Celery worker processes and Redis.

A fresh ``newsletter worker`` (Celery prefork, P processes) is started and
waited for until it says it is ready.  The clock starts when the
``newsletter send UPDATE --segment …`` command is launched and stops at the
send's ``finished_at`` (written by the worker that finished it).  Meanwhile
the worker tree's resident memory is sampled and CPU time is read from
/proc for the workers, PostgreSQL, Redis and the sink.  Optionally py-spy
records the worker tree (``--profile``).
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from dispatch_procs import (
    CpuMeter,
    RssSampler,
    Service,
    SmtpSink,
    high_water_kb,
    pids_named,
    process_tree,
)
from dispatch_store import SEGMENTS, Store
from sqlalchemy import func, select

from newsletter import sends
from newsletter.db import engine_for, session_scope
from newsletter.models import Delivery, Send

FINAL = ("finished", "cancelled", "paused")


@dataclass
class EngineRun:
    """What one engine send measured."""

    n: int
    seconds: float
    received: int
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

    @property
    def rate(self) -> float:
        """Messages per second, command launch to send finished."""
        return self.n / self.seconds if self.seconds > 0 else 0.0

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


def summarise_profile(path: Path, top: int = 25) -> list[tuple[str, float, float]]:
    """(function, inclusive %, self %) of the busiest functions in collapsed stacks.

    Idle samples (a process waiting in Celery's event loop or on a pipe) are
    left out, so percentages are of the workers' busy samples.
    """
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    idle_markers = ("_poll (", "poll (selectors", "select (selectors", "wait_for_tasks")
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        frames = stack.split(";")
        if any(m in frames[-1] for m in idle_markers):
            continue
        count = int(count_text)
        total += count
        own[_short(frames[-1])] += count
        for name in {_short(f) for f in frames}:
            inclusive[name] += count
    if not total:
        return []
    ranked = sorted(inclusive.items(), key=lambda kv: kv[1], reverse=True)
    return [(name, 100 * n / total, 100 * own[name] / total) for name, n in ranked[:top]]


def _short(frame: str) -> str:
    """``function (path/to/module.py:12)`` → ``function (module.py)``."""
    name, _, where = frame.partition(" (")
    module = where.rsplit("/", 1)[-1].split(":", 1)[0].rstrip(")")
    return f"{name} ({module})" if module else name


def run_engine(
    store: Store,
    *,
    broker_url: str,
    sink: SmtpSink,
    redis_pid: int,
    concurrency: int,
    folder: Path,
    profile_dir: Path | None = None,
) -> EngineRun:
    """Send the stored update to the three segments through Celery; see the module doc."""
    env = {
        **os.environ,
        "NEWSLETTER_DATABASE_URL": store.url,
        "NEWSLETTER_BROKER_URL": broker_url,
        "NEWSLETTER_SMTP_URL": f"smtp://127.0.0.1:{sink.port}",
    }
    worker = start_worker(env, concurrency, folder / f"worker-{store.subscribers}.log")
    profiler = None
    try:
        tree = process_tree(worker.pid)
        sampler = RssSampler(worker.pid)
        meter = CpuMeter(
            {
                "workers": tree,
                "postgres": pids_named("postgres") if store.kind == "PostgreSQL" else [],
                "redis": [redis_pid],
                "sink": [sink.pid],
            }
        )
        if profile_dir is not None:
            profile_dir.mkdir(parents=True, exist_ok=True)
            profiler = start_profiler(worker.pid, profile_dir / f"engine-{store.subscribers}.txt")
            time.sleep(1.0)  # let py-spy attach before the clock starts
        sampler.start()
        sink_before = sink.count
        children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        meter.start()
        launched = datetime.now(UTC)
        command = subprocess.run(
            [
                *newsletter_command(),
                "send",
                str(store.update_id),
                *(a for s in SEGMENTS for a in ("--segment", s)),
            ],
            env=env,
            capture_output=True,
            check=True,
        )
        sent_by = resource.getrusage(resource.RUSAGE_CHILDREN)
        send_id = int(command.stdout.split()[0])
        status = _wait_until_final(store.url, send_id, timeout=max(300.0, store.subscribers / 20))
        meter.stop()
        sampler.stop()
        high_water = high_water_kb(sampler.pids)
        received = sink.wait_for_count(sink_before + store.subscribers) - sink_before
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
    profile = []
    if profile_dir is not None and (profile_dir / f"engine-{store.subscribers}.txt").exists():
        profile = summarise_profile(profile_dir / f"engine-{store.subscribers}.txt")
    return EngineRun(
        n=store.subscribers,
        seconds=timeline.get("send finished", float("nan")),
        received=received,
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
    )


def _wait_until_final(url: str, send_id: int, timeout: float) -> str:
    """Poll the send's status (every 0.2 s) until it finishes, is cancelled or pauses."""
    deadline = time.monotonic() + timeout
    while True:
        with session_scope(engine_for(url)) as session:
            status = session.scalar(select(Send.status).where(Send.id == send_id))
        if status in FINAL:
            return str(status)
        if time.monotonic() > deadline:
            raise TimeoutError(f"send {send_id} still {status} after {timeout:.0f} s")
        time.sleep(0.2)
