"""Real servers for end-to-end dispatch tests: redis-server, a Celery worker, a store.

Every server listens on 127.0.0.1 only and is stopped by its fixture's
finaliser, whatever the test did.  The worker is a separate process group
(``start_new_session``) so a test can SIGKILL the whole of it at once, as an
out-of-memory killer or a lost machine would.

Fixtures (import them into a test module):

* ``redis_server`` — its own ``redis-server`` on a free port, no persistence
  (``--save "" --appendonly no``), so a restart really loses the queues.
* ``fresh_store`` — a new, migrated PostgreSQL database for this test only,
  dropped at the end; set as ``NEWSLETTER_DATABASE_URL`` in this process.
* ``worker_factory`` — starts ``newsletter worker`` processes with the test's
  environment; every one started is stopped at the end.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TypeVar

import pytest
import redis
from smtp_server import free_port
from sqlalchemy import create_engine, text

from newsletter.config import reset_settings
from newsletter.db import engine_for, reset_engines, session_scope
from newsletter.migrate import upgrade_to_head
from newsletter.segments import ensure_builtins

REPO_ROOT = Path(__file__).resolve().parent.parent
POSTGRES_ADMIN_URL = os.environ.get(
    "NEWSLETTER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
T = TypeVar("T")


def wait_for(
    condition: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    interval: float = 0.05,
    on_timeout: Callable[[], str] | None = None,
) -> T:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            detail = on_timeout() if on_timeout is not None else ""
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n{detail}")
        time.sleep(interval)


def _stop_process_group(process: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM the process's group, then SIGKILL whatever is left after ``grace`` s."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
    # Children (prefork pool processes) may outlive a parent that exited.
    _stop_process_group_now(process)


def _tail(path: Path, lines: int = 60) -> str:
    if not path.exists():
        return f"({path} does not exist)"
    content = path.read_text(errors="replace").splitlines()
    return "\n".join(content[-lines:])


class RedisServer:
    """A redis-server process on 127.0.0.1 that can be killed and started again."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.log_path = log_dir / f"redis-{self.port}.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        """Start the server and wait until it answers PING."""
        self._log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            [
                *["redis-server", "--bind", "127.0.0.1", "--appendonly", "no", "--daemonize", "no"],
                *("--port", str(self.port), "--save", ""),
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1.0)
        try:
            wait_for(
                lambda: self._answers(client),
                timeout=timeout,
                what=f"redis-server on port {self.port}",
                on_timeout=lambda: _tail(self.log_path),
            )
        finally:
            client.close()

    def _answers(self, client: redis.Redis) -> bool:
        if self._process is not None and self._process.poll() is not None:
            pytest.fail(f"redis-server exited at start:\n{_tail(self.log_path)}")
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False

    def kill(self) -> None:
        """SIGKILL the server: no shutdown save, every queue and unacked message is gone."""
        if self._process is not None:
            _stop_process_group_now(self._process)
            self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def stop(self) -> None:
        """Stop the server politely (SIGTERM), or kill it."""
        if self._process is not None:
            _stop_process_group(self._process, grace=5.0)
            self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def restart(self, down_for: float = 0.5) -> None:
        """Kill the server and start a new one, empty, on the same port."""
        self.kill()
        time.sleep(down_for)
        self.start()


def _stop_process_group_now(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL every process of the group (the main process and its children)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


class Worker:
    """One ``newsletter worker`` process (a Celery main process and its pool)."""

    def __init__(self, env: dict[str, str], log_path: Path, concurrency: int) -> None:
        self.log_path = log_path
        self.concurrency = concurrency
        self._log = log_path.open("ab")
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "newsletter", "worker"),
                *("--concurrency", str(concurrency), "--queues", "plan,deliver,maintenance"),
                *("--loglevel", "info"),
            ],
            cwd=REPO_ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait until Celery says the worker is ready to take tasks."""

        def ready() -> bool:
            if self.process.poll() is not None:
                pytest.fail(f"worker exited with {self.process.returncode}:\n{self.log()}")
            return "ready." in self.log_path.read_text(errors="replace")

        wait_for(ready, timeout=timeout, what="the Celery worker", on_timeout=self.log)

    def pool_pids(self) -> list[int]:
        """Pids of the worker's pool processes (children of the main process)."""
        children: list[int] = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue  # the process ended while we looked
            if int(fields[1]) == self.process.pid:
                children.append(int(stat.parent.name))
        return sorted(children)

    def kill_pool(self) -> list[int]:
        """SIGKILL the pool processes only (as the OOM killer would); returns their pids."""
        pids = self.pool_pids()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return pids

    def kill(self) -> None:
        """SIGKILL the worker's whole process group, mid-task: nothing runs its cleanup."""
        _stop_process_group_now(self.process)

    def stop(self) -> None:
        """Warm shutdown (SIGTERM), then SIGKILL after a grace period."""
        _stop_process_group(self.process, grace=10.0)
        self._log.close()

    def log(self, lines: int = 80) -> str:
        return f"--- worker log {self.log_path} ---\n{_tail(self.log_path, lines)}"


class WorkerFactory:
    """Starts workers with a fixed environment and stops them all at the end."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.workers: list[Worker] = []

    def start(self, concurrency: int = 2, *, wait: bool = True) -> Worker:
        log_path = self.log_dir / f"worker-{len(self.workers) + 1}.log"
        worker = Worker(self.env, log_path, concurrency)
        self.workers.append(worker)
        if wait:
            worker.wait_ready()
        return worker

    def logs(self) -> str:
        return "\n".join(w.log() for w in self.workers)

    def stop_all(self) -> None:
        for worker in self.workers:
            worker.stop()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own on 127.0.0.1, stopped at the end."""
    server = RedisServer(tmp_path)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def fresh_store(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A new migrated PostgreSQL database with the built-in segments, dropped at the end."""
    name = f"newsletter_celery_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    try:
        engine = engine_for(url)
        upgrade_to_head(engine)
        with session_scope(engine) as session:
            ensure_builtins(session)
        monkeypatch.setenv("NEWSLETTER_DATABASE_URL", url)
        reset_settings()
        yield url
    finally:
        reset_engines()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def worker_environment(settings: dict[str, str]) -> dict[str, str]:
    """This process's environment without NEWSLETTER_* settings, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    # Workers refuse to start without a strong key; they share this process's.
    if "NEWSLETTER_SECRET_KEY" in os.environ:
        env["NEWSLETTER_SECRET_KEY"] = os.environ["NEWSLETTER_SECRET_KEY"]
    env.update(settings)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture
def worker_factory(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], WorkerFactory]]:
    """``make(settings)`` → a WorkerFactory; every worker it started is stopped at the end."""
    factories: list[WorkerFactory] = []

    def make(settings: dict[str, str]) -> WorkerFactory:
        factory = WorkerFactory(worker_environment(settings), tmp_path)
        factories.append(factory)
        return factory

    try:
        yield make
    finally:
        for factory in factories:
            factory.stop_all()
