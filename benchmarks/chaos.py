"""The chaos suite: real sends under injected faults, every message counted at the receiver.

Run: ``python benchmarks/chaos.py [--n 3000] [--scenario NAME ...]`` (all
scenarios by default; ``--list`` names them).  Nothing of the machine's own
services is touched: the suite starts, in a temporary folder, on free ports of
127.0.0.1,

* a private PostgreSQL cluster (``initdb`` and ``pg_ctl`` from
  ``/usr/lib/postgresql/*/bin``), so it can be restarted mid-send;
* its own ``redis-server`` (no persistence: a restart really empties it);
* the counting SMTP server ``benchmarks/chaos_smtp.py``, which puts every
  message it accepts on disk (``fdatasync``) before answering 250 and records
  its delivery id and Message-ID;
* ``newsletter beat`` and real ``newsletter worker`` processes (Celery
  prefork, two pool processes each), with the default settings except a
  2-second first retry delay (``NEWSLETTER_RETRY_BASE_SECONDS``) so that
  scenarios with refusals end in seconds rather than minutes.

Each scenario sends the same update to N subscribers (a new send each time)
while one fault is injected, waits for the send to finish, and compares the
receiver's records with the send's deliveries.  It prints, per scenario:
planned deliveries, messages received, distinct deliveries received,
duplicates, deliveries missing, the duplicates allowed (one per SMTP
connection, i.e. per pool process, at each whole-worker kill and at the SMTP
server's kill, which can store a message and die before answering), whether
every duplicate carried the Message-ID of its first copy and the store's, the
longest time a killed worker's claims stayed claimed, and the send's duration.
The exit status is 1 when a scenario lost a message, duplicated more than
allowed, or let two copies differ in Message-ID.

The scenarios are also importable (``tests/test_chaos.py`` runs a short
selection under ``pytest -m chaos``).
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SAMPLE = REPO / "newsletter" / "data" / "samples" / "north-east-2018-12.txt"
SEGMENTS = ("dcs", "lead-member", "workforce-lead")
ROLE_SETS = (("DCS",), ("Lead Member",), ("Workforce Lead",), ("DCS", "Lead Member"))
CONCURRENCY = 2  # pool processes per worker, each with one SMTP connection
SEND_TIMEOUT = 600.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(
    condition: Callable[[], Any], *, timeout: float, what: str, interval: float = 0.1
) -> Any:
    """Poll ``condition`` until it returns something truthy; TimeoutError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
        return True
    return False


class Process:
    """A child process in its own session, so the whole group can be killed by id."""

    def __init__(self, name: str, argv: Sequence[str], log: Path, **popen: Any) -> None:
        self.name = name
        self.log_path = log
        self._log = log.open("ab")
        self.process = subprocess.Popen(
            list(argv), stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True, **popen
        )

    @property
    def pid(self) -> int:
        return int(self.process.pid)

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole process group (main process and children): no cleanup runs."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
        self._log.close()

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM the group, then SIGKILL after ``grace`` seconds."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(grace)
        self.kill()

    def tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()
        return f"--- {self.name} ({self.log_path}) ---\n" + "\n".join(text[-lines:])


def postgres_bin(name: str) -> str:
    """The newest installed PostgreSQL server program ``name``."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=_version_key)
    if found:
        return found[-1]
    on_path = shutil.which(name)
    if on_path is None:
        raise SystemExit(f"{name} not found in /usr/lib/postgresql/*/bin or PATH")
    return on_path


def _version_key(path: str) -> tuple[int, ...]:
    version = path.split("/")[4]
    return tuple(int(p) for p in version.split(".") if p.isdigit())


class PostgresCluster:
    """A private cluster (initdb) on a free port, started and stopped with pg_ctl."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.data = folder / "data"
        self.port = free_port()
        self.log = folder / "postgres.log"
        # initdb and the server refuse to run as root: use the postgres account then.
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        folder.mkdir(parents=True, exist_ok=True)
        if self._as:
            shutil.chown(folder, "postgres")
            # mkdtemp makes the suite's folder private to root: let postgres through.
            folder.parent.chmod(0o711)
        self._run(postgres_bin("initdb"), "-D", str(self.data), "-U", "postgres",
                  "--auth=trust", "--no-sync", "-E", "UTF8")  # fmt: skip

    def _run(self, *argv: str) -> None:
        done = subprocess.run([*self._as, *argv], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed: {done.stdout}{done.stderr}")

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    @property
    def _options(self) -> str:
        # fsync off: a killed server loses nothing (the kernel keeps its
        # writes); only a machine crash could, which no scenario simulates.
        return (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder} "
            "-c fsync=off -c max_connections=200"
        )

    def start(self) -> None:
        # -l: the server's output goes to its log, never to a pipe of ours
        # (a server holding our pipe open would keep us waiting for ever).
        self._run(postgres_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.log),
                  "-o", self._options, "-w", "start")  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        with contextlib.suppress(RuntimeError):
            self._run(postgres_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self) -> None:
        self._run(postgres_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.log),
                  "-o", self._options, "-m", "fast", "-w", "restart")  # fmt: skip

    def create_database(self, name: str) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')

    def terminate_connections(self, database: str) -> int:
        """Terminate every backend connected to ``database`` (but this one); returns how many."""
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (database,),
            ).fetchone()
            return int(row[0]) if row else 0


class Spool:
    """What the counting SMTP server has accepted: (delivery id, Message-ID) per message."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "accepted.tsv"
        self._offset = 0
        self.records: list[tuple[int, str]] = []

    def read(self) -> list[tuple[int, str]]:
        """Every record so far (read incrementally; whole lines only)."""
        if self.path.exists():
            with self.path.open("rb") as f:
                f.seek(self._offset)
                chunk = f.read()
            end = chunk.rfind(b"\n") + 1
            for line in chunk[:end].splitlines():
                delivery, message_id, _ = line.split(b"\t", 2)
                self.records.append((int(delivery), message_id.decode()))
            self._offset += end
        return self.records


@dataclass
class Outcome:
    """One scenario's figures."""

    scenario: str
    planned: int = 0
    received: int = 0
    unique: int = 0
    duplicates: int = 0
    missing: int = 0
    allowed: int = 0
    same_message_id: bool = True
    reclaim_seconds: float | None = None
    seconds: float = 0.0
    status: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            self.missing == 0
            and self.duplicates <= self.allowed
            and self.same_message_id
            and self.status == "finished"
        )


class Stack:
    """PostgreSQL, Redis, the counting SMTP server, beat and workers, all private."""

    def __init__(self, folder: Path, n: int) -> None:
        self.folder = folder
        self.n = n
        self.pg = PostgresCluster(folder / "pg")
        self.database = "chaos"
        self.redis_port = free_port()
        self.smtp_port = free_port()
        self.spool_dir = folder / "smtp"
        self.spool = Spool(self.spool_dir)
        self.redis: Process | None = None
        self.smtp: Process | None = None
        self.beat: Process | None = None
        self.workers: list[Process] = []
        self.update_id = 0
        self._started = 0

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
        env.update(
            {
                "NEWSLETTER_DATABASE_URL": self.pg.url(self.database),
                "NEWSLETTER_BROKER_URL": f"redis://127.0.0.1:{self.redis_port}/0",
                "NEWSLETTER_SMTP_URL": f"smtp://127.0.0.1:{self.smtp_port}",
                "NEWSLETTER_RETRY_BASE_SECONDS": "2",
                "NEWSLETTER_DATA_DIR": str(self.folder / "data"),
                "PYTHONUNBUFFERED": "1",
            }
        )
        return env

    # --- services ------------------------------------------------------------

    def start(self) -> None:
        self.pg.start()
        self.pg.create_database(self.database)
        self.start_redis()
        self.start_smtp()
        self._fill()
        self.beat = Process(
            "beat", [*newsletter(), "beat", "--loglevel", "info"], self.folder / "beat.log",
            env=self.env, cwd=self.folder,
        )  # fmt: skip

    def start_redis(self) -> None:
        self.redis = Process(
            "redis",
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.redis_port),
             "--save", "", "--appendonly", "no", "--dir", str(self.folder)],
            self.folder / "redis.log",
        )  # fmt: skip
        wait_until(lambda: port_open(self.redis_port), timeout=10, what="redis-server")

    def start_smtp(self, *extra: str) -> None:
        self.smtp = Process(
            "smtp",
            [sys.executable, str(HERE / "chaos_smtp.py"), str(self.smtp_port),
             str(self.spool_dir), *extra],
            self.folder / "smtp.log",
        )  # fmt: skip
        wait_until(lambda: port_open(self.smtp_port), timeout=10, what="the SMTP server")

    def start_worker(self, **settings: str) -> Process:
        self._started += 1
        env = self.env | {f"NEWSLETTER_{k.upper()}": v for k, v in settings.items()}
        worker = Process(
            f"worker-{self._started}",
            [*newsletter(), "worker", "--concurrency", str(CONCURRENCY), "--loglevel", "info"],
            self.folder / f"worker-{self._started}.log",
            env=env, cwd=self.folder,
        )  # fmt: skip
        wait_until(
            lambda: "ready." in worker.log_path.read_text(errors="replace") or not worker.alive(),
            timeout=90,
            what=f"{worker.name} to be ready",
        )
        if not worker.alive():
            raise RuntimeError(worker.tail())
        self.workers.append(worker)
        return worker

    def stop_workers(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.workers = []

    def stop(self) -> None:
        self.stop_workers()
        for service in (self.beat, self.smtp, self.redis):
            if service is not None:
                service.stop(grace=5)
        self.pg.stop()

    def _fill(self) -> None:
        """Migrate the store, add N subscribers over the three role segments and the update."""
        os.environ["NEWSLETTER_DATABASE_URL"] = self.pg.url(self.database)
        from newsletter.config import reset_settings
        from newsletter.db import engine_for, reset_engines, session_scope
        from newsletter.ingest import parse_file
        from newsletter.migrate import upgrade_to_head
        from newsletter.segments import ensure_builtins
        from newsletter.subscribers import SubscriberInput, upsert
        from newsletter.updates import store_update

        reset_settings()
        engine = engine_for(self.pg.url(self.database))
        upgrade_to_head(engine)
        with session_scope(engine) as session:
            ensure_builtins(session)
            record = store_update(session, parse_file(SAMPLE).update, source_name=SAMPLE.name)
            self.update_id = record.id
            people = [
                SubscriberInput.build(
                    f"reader{i:06d}@council{i % 12}.example.org",
                    name=f"Reader {i}",
                    roles=ROLE_SETS[i % len(ROLE_SETS)],
                    status="active",
                )
                for i in range(self.n)
            ]
            upsert(session, people, default_status="active", consent_source="chaos")
        reset_engines()

    # --- the store, read by the driver ---------------------------------------

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Run ``sql`` on a fresh connection, retrying while the server is down or kills us."""
        url = self.pg.url(self.database).replace("+psycopg", "")
        deadline = time.monotonic() + 60
        while True:
            try:
                with psycopg.connect(url, connect_timeout=2) as conn:
                    return list(conn.execute(sql, params).fetchall())
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def cli(self, *args: str) -> str:
        """Run a ``newsletter`` command as an operator would; returns its output."""
        done = subprocess.run(
            [*newsletter(), *args], env=self.env, cwd=self.folder, capture_output=True, text=True
        )
        if done.returncode != 0:
            raise RuntimeError(f"newsletter {' '.join(args)}: {done.stdout}{done.stderr}")
        return done.stdout

    def send(self) -> int:
        """A new send of the update to the three segments, started through the broker."""
        output = self.cli(
            "send", str(self.update_id), *(a for s in SEGMENTS for a in ("--segment", s))
        )
        return int(output.split()[0])

    def status(self, send_id: int) -> str:
        return str(self.query("SELECT status FROM sends WHERE id = %s", send_id)[0][0])

    def received_for(self, send_id: int) -> int:
        low, high = self.id_range(send_id)
        return sum(1 for d, _ in self.spool.read() if low <= d <= high)

    def id_range(self, send_id: int) -> tuple[int, int]:
        row = self.query(
            "SELECT coalesce(min(id), 0), coalesce(max(id), -1) FROM deliveries WHERE send_id = %s",
            send_id,
        )[0]
        return int(row[0]), int(row[1])

    def claimed(self, send_id: int) -> set[int]:
        rows = self.query(
            "SELECT id FROM deliveries WHERE send_id = %s AND status = 'claimed'", send_id
        )
        return {int(r[0]) for r in rows}

    def wait_received(self, send_id: int, fraction: float) -> None:
        """Wait until the receiver has this fraction of the send's planned messages."""
        target = int(self.n * fraction)
        wait_until(
            lambda: self.id_range(send_id)[1] > 0 and self.received_for(send_id) >= target,
            timeout=SEND_TIMEOUT,
            what=f"{target} messages of send {send_id}",
            interval=0.05,
        )

    def wait_final(self, send_id: int, on_paused: Callable[[], None] | None = None) -> str:
        def final() -> str | None:
            status = self.status(send_id)
            if status == "paused" and on_paused is not None:
                on_paused()
                return None
            return status if status in ("finished", "cancelled") else None

        try:
            return str(wait_until(final, timeout=SEND_TIMEOUT, what=f"send {send_id} to finish",
                                  interval=0.2))  # fmt: skip
        except TimeoutError:
            for worker in self.workers:
                print(worker.tail(), file=sys.stderr)
            raise

    def outcome(self, name: str, send_id: int, started: float, allowed: int = 0) -> Outcome:
        """Compare the receiver's records with the send's deliveries."""
        result = Outcome(name, allowed=allowed, seconds=time.monotonic() - started)
        result.status = self.status(send_id)
        stored = {
            int(d): (str(s), m)
            for d, s, m in self.query(
                "SELECT id, status, message_id FROM deliveries WHERE send_id = %s", send_id
            )
        }
        result.planned = len(stored)
        copies: dict[int, list[str]] = {}
        for delivery, message_id in self.spool.read():
            if delivery in stored:
                copies.setdefault(delivery, []).append(message_id)
        result.received = sum(len(c) for c in copies.values())
        result.unique = len(copies)
        result.duplicates = result.received - result.unique
        result.missing = result.planned - result.unique
        for delivery, ids in copies.items():
            if len(set(ids)) != 1 or stored[delivery][1] != ids[0]:
                result.same_message_id = False
                result.notes.append(f"delivery {delivery}: {ids} stored {stored[delivery][1]}")
                break
        states = Counter(s for s, _ in stored.values())
        if set(states) != {"sent"}:
            result.notes.append(f"delivery states {dict(states)}")
        return result


def newsletter() -> list[str]:
    return [sys.executable, "-m", "newsletter"]


# --- scenarios -------------------------------------------------------------------


def baseline(stack: Stack) -> Outcome:
    """No fault: the reference time."""
    stack.start_worker()
    started = time.monotonic()
    send_id = stack.send()
    stack.wait_final(send_id)
    return stack.outcome("no fault", send_id, started)


def kill_worker_twice(stack: Stack) -> Outcome:
    """kill -9 of the whole worker (main process and pool) at 25% and 60%; a fresh one each time."""
    worker = stack.start_worker()
    started = time.monotonic()
    send_id = stack.send()
    reclaim: list[float] = []
    watchers: list[threading.Thread] = []
    for fraction in (0.25, 0.60):
        stack.wait_received(send_id, fraction)
        worker.kill()
        killed_at = time.monotonic()
        held = stack.claimed(send_id)
        watcher = threading.Thread(
            target=_time_reclaim, args=(stack, send_id, held, killed_at, reclaim), daemon=True
        )
        watcher.start()
        watchers.append(watcher)
        stack.workers.remove(worker)
        worker = stack.start_worker()
    stack.wait_final(send_id)
    for watcher in watchers:
        watcher.join(SEND_TIMEOUT)
    result = stack.outcome("kill -9 whole worker, twice", send_id, started, allowed=2 * CONCURRENCY)
    result.reclaim_seconds = max(reclaim) if reclaim else None
    return result


def _time_reclaim(
    stack: Stack, send_id: int, held: set[int], since: float, out: list[float]
) -> None:
    """How long the rows a killed worker held stayed claimed (appended to ``out``)."""
    with contextlib.suppress(TimeoutError):
        wait_until(
            lambda: not (held & stack.claimed(send_id)), timeout=SEND_TIMEOUT,
            what="the killed worker's claims", interval=0.25,
        )  # fmt: skip
        out.append(time.monotonic() - since)


def terminate_pg_connections(stack: Stack, seconds: float = 15.0) -> Outcome:
    """Every PostgreSQL connection of the store terminated every 0.2 s for ``seconds`` s."""
    stack.start_worker()
    started = time.monotonic()
    send_id = stack.send()
    stack.wait_received(send_id, 0.15)
    until = time.monotonic() + seconds
    terminated = 0
    while time.monotonic() < until:
        terminated += stack.pg.terminate_connections(stack.database)
        time.sleep(0.2)
    stack.wait_final(send_id)
    result = stack.outcome(f"PG connections terminated every 0.2 s for {seconds:.0f} s",
                           send_id, started)  # fmt: skip
    result.notes.append(f"{terminated} connections terminated")
    return result


def restart_postgres(stack: Stack) -> Outcome:
    """PostgreSQL restarted (pg_ctl restart -m fast) at 30%."""
    stack.start_worker()
    started = time.monotonic()
    send_id = stack.send()
    stack.wait_received(send_id, 0.30)
    stack.pg.restart()
    stack.wait_final(send_id)
    return stack.outcome("PostgreSQL restarted", send_id, started)


def restart_redis_empty(stack: Stack) -> Outcome:
    """redis-server killed (SIGKILL) at 30% and started again, empty, on the same port."""
    stack.start_worker()
    started = time.monotonic()
    send_id = stack.send()
    stack.wait_received(send_id, 0.30)
    assert stack.redis is not None
    stack.redis.kill()
    time.sleep(1.0)
    stack.start_redis()
    stack.wait_final(send_id)
    return stack.outcome("Redis killed, restarted empty", send_id, started)


def smtp_down(stack: Stack, seconds: float = 60.0) -> Outcome:
    """The SMTP server down for ``seconds`` s from 30%; the operator resumes a paused send."""
    stack.start_worker()
    started = time.monotonic()
    send_id = stack.send()
    stack.wait_received(send_id, 0.30)
    assert stack.smtp is not None
    stack.smtp.kill()
    time.sleep(seconds)
    stack.start_smtp()
    resumed: list[str] = []

    def operator_resumes() -> None:
        resumed.append(stack.cli("sends", "resume", str(send_id)))

    stack.wait_final(send_id, on_paused=operator_resumes)
    # A server killed after storing a message and before its 250 reached the
    # sender has the message while the sender saw a dropped connection: the
    # sender must try again (RFC 1047), at most once per open connection.
    result = stack.outcome(
        f"SMTP down {seconds:.0f} s", send_id, started, allowed=len(stack.workers) * CONCURRENCY
    )
    result.notes.append(f"resumed by the operator {len(resumed)} time(s)")
    return result


def tempfail_fifth(stack: Stack) -> Outcome:
    """451 at the end of DATA to the first attempt of one delivery in five."""
    assert stack.smtp is not None
    stack.smtp.stop(grace=5)
    stack.start_smtp("--tempfail-every", "5")
    try:
        stack.start_worker()
        started = time.monotonic()
        send_id = stack.send()
        stack.wait_final(send_id)
        return stack.outcome("451 on 20%", send_id, started)
    finally:
        stack.smtp.stop(grace=5)
        stack.start_smtp()


def pause_resume_thrice(stack: Stack) -> Outcome:
    """Paused at 20%, 45% and 70% (until no batch holds a row), resumed each time."""
    stack.start_worker()
    started = time.monotonic()
    send_id = stack.send()
    for fraction in (0.20, 0.45, 0.70):
        stack.wait_received(send_id, fraction)
        stack.cli("sends", "pause", str(send_id))
        wait_until(lambda: not stack.claimed(send_id), timeout=120, what="batches to stop")
        stack.cli("sends", "resume", str(send_id))
    stack.wait_final(send_id)
    return stack.outcome("pause/resume three times", send_id, started)


def shared_rate_limit(stack: Stack, per_second: float = 150.0) -> Outcome:
    """Two workers under one limit of ``per_second`` messages per second."""
    for _ in range(2):
        stack.start_worker(rate_per_second=str(per_second))
    started = time.monotonic()
    send_id = stack.send()
    stack.wait_final(send_id)
    result = stack.outcome(f"two workers, shared limit {per_second:.0f}/s", send_id, started)
    first, last = stack.query(
        "SELECT extract(epoch FROM min(finished_at)), extract(epoch FROM max(finished_at)) "
        "FROM deliveries WHERE send_id = %s",
        send_id,
    )[0]
    rate = (result.planned - 1) / max(float(last) - float(first), 1e-9)
    result.notes.append(f"recorded at {rate:.0f} msg/s (limit {per_second:.0f}/s)")
    return result


SCENARIOS: dict[str, Callable[[Stack], Outcome]] = {
    "baseline": baseline,
    "kill-worker": kill_worker_twice,
    "pg-terminate": terminate_pg_connections,
    "pg-restart": restart_postgres,
    "redis-restart": restart_redis_empty,
    "smtp-down": smtp_down,
    "tempfail": tempfail_fifth,
    "pause-resume": pause_resume_thrice,
    "rate-limit": shared_rate_limit,
}


@contextlib.contextmanager
def running_stack(n: int, keep: bool = False) -> Iterator[Stack]:
    """A started :class:`Stack` in a temporary folder, stopped (and removed) at the end."""
    folder = Path(tempfile.mkdtemp(prefix="newsletter-chaos-"))
    stack = Stack(folder, n)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)


def run_scenario(stack: Stack, name: str, **options: Any) -> Outcome:
    """Run one scenario with fresh workers; they are stopped afterwards."""
    try:
        return SCENARIOS[name](stack, **options)
    finally:
        stack.stop_workers()


HEADER = ("scenario", "planned", "received", "unique", "duplicates", "missing",
          "allowed", "same Message-ID", "claims back after", "time")  # fmt: skip


def row(o: Outcome) -> tuple[str, ...]:
    reclaim = f"{o.reclaim_seconds:.0f} s" if o.reclaim_seconds is not None else "-"
    return (o.scenario, str(o.planned), str(o.received), str(o.unique), str(o.duplicates),
            str(o.missing), str(o.allowed), "yes" if o.same_message_id else "NO", reclaim,
            f"{o.seconds:.0f} s")  # fmt: skip


def print_table(outcomes: Sequence[Outcome]) -> None:
    print("| " + " | ".join(HEADER) + " |")
    print("|" + "---|" * len(HEADER))
    for o in outcomes:
        print("| " + " | ".join(row(o)) + " |")
    for o in outcomes:
        for note in o.notes:
            print(f"  {o.scenario}: {note}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=3000, help="subscribers (default 3000)")
    parser.add_argument("--scenario", action="append", choices=sorted(SCENARIOS))
    parser.add_argument("--smtp-down", type=float, default=60.0, help="seconds (default 60)")
    parser.add_argument("--list", action="store_true", help="name the scenarios and exit")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    if args.list:
        for name, function in SCENARIOS.items():
            print(f"{name:15} {(function.__doc__ or '').strip()}")
        return 0
    names = args.scenario or list(SCENARIOS)
    outcomes: list[Outcome] = []
    with running_stack(args.n, keep=args.keep) as stack:
        print(f"chaos suite: {args.n} subscribers, stack in {stack.folder}", flush=True)
        for name in names:
            options = {"seconds": args.smtp_down} if name == "smtp-down" else {}
            outcome = run_scenario(stack, name, **options)
            outcomes.append(outcome)
            print(f"{name}: {'ok' if outcome.ok else 'FAILED'} {row(outcome)}", flush=True)
    print_table(outcomes)
    print(json.dumps([o.__dict__ for o in outcomes]))
    return 0 if all(o.ok for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
