"""Which batch tasks are alive: queued in the broker, or running with a fresh heartbeat.

Every ``deliver_batch`` task has a key ``newsletter:task:<task id>`` in the
broker's Redis, next to the queue that holds the task:

* ``queued`` once the task is published (``SET NX``, so a task that already
  started keeps its state).  It lives with the queue: a Redis restarted empty
  loses the key and the task together.  It expires a day after the task was
  due, bounding what a lost update could hold back.
* ``running`` while a worker runs it: written before the batch claims its
  rows, with a time to live of ``NEWSLETTER_LEASE_SECONDS``, and refreshed
  every quarter of that by a heartbeat thread.  A worker that dies stops
  refreshing, and the key lapses within one lease.
* ``done`` when the task ends, kept an hour.

Recovery (``newsletter.dispatch.maintenance``) reads these: rows claimed by a
task that is not ``running`` are taken back (after the journal is settled);
pending rows whose task is ``queued`` or ``running`` are waiting in a healthy
queue and are left alone.  Absence proves death only once Redis has been up
longer than a lease, so that live workers have rewritten their heartbeats
after a restart; until then recovery takes no claim back.

A worker trusts its lease only while its heartbeat succeeded within the last
three quarters of a lease (:meth:`Lease.valid`); past that, recovery may be
taking its rows, so the batch stops before its next message.

Without Redis (the embedded worker) there is no book: recovery falls back to
``NEWSLETTER_CLAIM_TIMEOUT_SECONDS`` and ``NEWSLETTER_REQUEUE_AFTER_SECONDS``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from newsletter.config import get_settings
from newsletter.errors import NewsletterError

if TYPE_CHECKING:
    import redis

log = logging.getLogger(__name__)

QUEUED = "queued"
RUNNING = "running"
DONE = "done"
# How long the states that are not leases are kept.
QUEUED_KEEP_SECONDS = 24 * 3600
DONE_KEEP_SECONDS = 3600


class LeaseUnavailable(NewsletterError, ConnectionError):  # noqa: N818 (reads as what happened)
    """The heartbeat could not be written: the batch must not claim rows; try it later."""


def task_key(task_id: str) -> str:
    """The Redis key of a batch task's state."""
    return f"newsletter:task:{task_id}"


class TaskBook:
    """The task states in the broker's Redis (see the module docstring)."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def queued(self, task_ids: Sequence[str], countdown: float | None = None) -> None:
        """Note freshly published tasks (never overwriting a task that already started)."""
        keep = int(QUEUED_KEEP_SECONDS + (countdown or 0))
        pipe = self.client.pipeline(transaction=False)
        for task_id in task_ids:
            pipe.set(task_key(task_id), QUEUED, nx=True, ex=keep)
        pipe.execute()

    def states(self, task_ids: Sequence[str]) -> dict[str, str | None]:
        """The state of each task (None when Redis has no key for it)."""
        if not task_ids:
            return {}
        values = self.client.mget([task_key(t) for t in task_ids])
        return {
            t: (v.decode() if isinstance(v, bytes) else v)
            for t, v in zip(task_ids, values, strict=True)
        }

    def uptime(self) -> float:
        """Seconds since the Redis server started."""
        return float(self.client.info("server")["uptime_in_seconds"])

    def running(self, task_id: str, seconds: float) -> None:
        self.client.set(task_key(task_id), RUNNING, px=int(seconds * 1000))

    def done(self, task_id: str) -> None:
        self.client.set(task_key(task_id), DONE, ex=DONE_KEEP_SECONDS)


class Lease:
    """A running batch's claim on its rows, kept alive by a heartbeat thread.

    :meth:`start` writes ``running`` (raising if Redis cannot be reached: the
    batch must not claim rows it cannot vouch for); :meth:`valid` says whether
    the batch may still send; :meth:`end` stops the heartbeat and writes
    ``done``.
    """

    def __init__(self, book: TaskBook | None, task_id: str, seconds: float) -> None:
        self.book = book
        self.task_id = task_id
        self.seconds = seconds
        # Trusted until this monotonic time: three quarters of a lease after
        # the start of the last heartbeat that Redis acknowledged.
        self._good_until = float("inf") if book is None else 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.book is None:
            return
        self._beat()
        if not self.valid():
            raise LeaseUnavailable(f"could not write the heartbeat of task {self.task_id}")
        self._thread = threading.Thread(
            target=self._run, name=f"heartbeat-{self.task_id[:8]}", daemon=True
        )
        self._thread.start()

    def _beat(self) -> None:
        assert self.book is not None
        began = time.monotonic()
        try:
            self.book.running(self.task_id, self.seconds)
        except Exception as exc:
            log.warning("task %s: heartbeat failed: %s", self.task_id, exc)
            return
        self._good_until = began + 0.75 * self.seconds

    def _run(self) -> None:
        while not self._stop.wait(self.seconds / 4):
            if not self.valid():
                # Recovery may already be taking the rows: never revive the key.
                log.warning("task %s: heartbeat lapsed; the batch stops", self.task_id)
                return
            self._beat()

    def valid(self) -> bool:
        """Whether the batch may send its next message (a monotonic clock read)."""
        return time.monotonic() < self._good_until

    def end(self) -> None:
        """Stop the heartbeat and mark the task done (a failure only logs)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self.book is not None:
            try:
                self.book.done(self.task_id)
            except Exception as exc:
                log.warning("task %s: could not mark done: %s", self.task_id, exc)


_clients: dict[str, redis.Redis] = {}


def task_book() -> TaskBook | None:
    """The book for the current settings: in the Redis broker, or None without one."""
    url = get_settings().broker_url
    if not url or not url.startswith(("redis://", "rediss://")):
        return None
    client = _clients.get(url)
    if client is None:
        import redis

        client = _clients[url] = redis.Redis.from_url(
            url, socket_timeout=5.0, socket_connect_timeout=5.0
        )
    return TaskBook(client)
