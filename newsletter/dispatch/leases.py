"""Which batch tasks are alive: queued in the broker, or running with a fresh heartbeat.

Every ``deliver_batch`` (and ``plan_send``) task has a key
``newsletter:task:<task id>`` in the broker's Redis, next to the queue that
holds the task:

* ``queued`` once the task is published (``SET NX``, so a task that already
  started keeps its state).  It lives with the queue: a Redis restarted empty
  loses the key and the task together.  It expires a day after the task was
  due, bounding what a lost update could hold back.
* ``running:<holder>`` while a worker runs it, ``<holder>`` naming that one
  run (:class:`Lease`): taken before the batch claims its rows, with a time to
  live of ``NEWSLETTER_LEASE_SECONDS``, and renewed every quarter of that by a
  heartbeat thread.  A worker that dies stops renewing, and the key lapses
  within one lease.
* ``done`` when the task ends, kept an hour.

Taking the lease is exclusive (one Lua script reads and writes the key): a run
finding the key ``running`` under another holder does not take it, does not
claim and does not send; it ends, and the task's message is acknowledged.
That is what happens to the copy the broker hands out when a batch runs
longer than ``NEWSLETTER_BROKER_VISIBILITY_TIMEOUT_SECONDS`` (a rate limit, a
slow server), and to the redelivery of a task whose worker was killed a
moment ago (its dead key is still ``running`` until it lapses).  The rows
stay claimed by the task: the live holder sends them; if the holder is dead,
recovery takes them back once its key lapsed, as for any dead worker.
Renewing is conditional too: a heartbeat renews the key only while it is its
own (or absent, after a Redis restart), and writing ``done`` never overwrites
another holder's ``running``.

The invariant that makes this exactly once: **a second run can take the lease
only after the first has stopped sending.**  The first run sends only while
:meth:`Lease.valid`, that is less than three quarters of a lease after the
start of its last heartbeat Redis acknowledged, and it checks that again
right before each message (after any wait for the rate limit).  That
heartbeat's key lives a whole lease from the moment Redis wrote it, which is
after the heartbeat started; so the key outlives the first run's last
possible check by a quarter of a lease (5 s by default), time for the message
then on the wire to be accepted and noted in the result journal, which the
second run settles right after it claims.  A mail server slower than that to
answer one message can make that one message go twice, with the same
Message-ID: the bound recovery has always had when it takes rows back.

Recovery (``newsletter.dispatch.maintenance``) reads these: rows claimed by a
task that is not ``running`` are taken back (after the journal is settled);
pending rows whose task is ``queued`` or ``running`` are waiting in a healthy
queue and are left alone.  Absence proves death only once Redis has been up
longer than a lease, so that live workers have rewritten their heartbeats
after a restart; until then recovery takes no claim back.

Without Redis (the embedded worker) there is no book: recovery falls back to
``NEWSLETTER_CLAIM_TIMEOUT_SECONDS`` and ``NEWSLETTER_REQUEUE_AFTER_SECONDS``.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
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
        return {t: state_of(v) for t, v in zip(task_ids, values, strict=True)}

    def uptime(self) -> float:
        """Seconds since the Redis server started."""
        return float(self.client.info("server")["uptime_in_seconds"])

    def acquire(self, task_id: str, holder: str, seconds: float) -> bool:
        """Mark the task running under ``holder`` for ``seconds``, unless another holder
        runs it; returns whether ``holder`` has it now."""
        return bool(
            self.client.eval(_ACQUIRE, 1, task_key(task_id), _running(holder), int(seconds * 1000))
        )

    def renew(self, task_id: str, holder: str, seconds: float) -> bool:
        """Extend ``holder``'s lease (rewriting it if Redis lost it); False if another
        run holds the task or it ended."""
        return bool(
            self.client.eval(_RENEW, 1, task_key(task_id), _running(holder), int(seconds * 1000))
        )

    def done(self, task_id: str, holder: str) -> None:
        """Mark the task done, unless another holder runs it."""
        self.client.eval(_DONE, 1, task_key(task_id), _running(holder), DONE, DONE_KEEP_SECONDS)


def _running(holder: str) -> str:
    return f"{RUNNING}:{holder}"


def state_of(value: str | bytes | None) -> str | None:
    """The state a task key's value stands for (``running:<holder>`` is ``running``)."""
    if value is None:
        return None
    text = value.decode() if isinstance(value, bytes) else value
    return text.split(":", 1)[0]


# Each script reads and writes the key in one step, so two runs of a task
# cannot both find it free.  ARGV[1] is the holder's ``running:<holder>``.
_ACQUIRE = """
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, 7) == 'running' then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""
_RENEW = """
local v = redis.call('GET', KEYS[1])
if v and v ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""
_DONE = """
local v = redis.call('GET', KEYS[1])
if v and v ~= ARGV[1] and string.sub(v, 1, 7) == 'running' then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1
"""


class Lease:
    """One run's exclusive claim on a task, kept alive by a heartbeat thread.

    :meth:`start` takes the lease (False: another run holds it, so this one
    must neither claim nor send; raises if Redis cannot be reached: the batch
    must not claim rows it cannot vouch for); :meth:`valid` says whether the
    batch may still send; :meth:`end` stops the heartbeat and writes ``done``.
    """

    def __init__(self, book: TaskBook | None, task_id: str, seconds: float) -> None:
        self.book = book
        self.task_id = task_id
        self.seconds = seconds
        self.holder = uuid.uuid4().hex
        # Trusted until this monotonic time: three quarters of a lease after
        # the start of the last heartbeat that Redis acknowledged.
        self._good_until = float("inf") if book is None else 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._held = False

    def start(self) -> bool:
        """Take the lease and start the heartbeat; False if another run holds it."""
        if self.book is None:
            return True
        began = time.monotonic()
        try:
            taken = self.book.acquire(self.task_id, self.holder, self.seconds)
        except Exception as exc:
            raise LeaseUnavailable(
                f"could not write the heartbeat of task {self.task_id}: {exc}"
            ) from exc
        if not taken:
            log.info("task %s: already running elsewhere; this copy ends", self.task_id)
            return False
        self._held = True
        self._good_until = began + 0.75 * self.seconds
        self._thread = threading.Thread(
            target=self._run, name=f"heartbeat-{self.task_id[:8]}", daemon=True
        )
        self._thread.start()
        return True

    def _beat(self) -> bool:
        """Renew the lease; False once another run holds it (the batch must stop)."""
        assert self.book is not None
        began = time.monotonic()
        try:
            if not self.book.renew(self.task_id, self.holder, self.seconds):
                self._good_until = 0.0
                log.warning("task %s: another run holds the lease; the batch stops", self.task_id)
                return False
        except Exception as exc:
            log.warning("task %s: heartbeat failed: %s", self.task_id, exc)
            return True
        self._good_until = began + 0.75 * self.seconds
        return True

    def _run(self) -> None:
        while not self._stop.wait(self.seconds / 4):
            if not self.valid():
                # Recovery or another run may already be taking the rows: never revive the key.
                log.warning("task %s: heartbeat lapsed; the batch stops", self.task_id)
                return
            if not self._beat():
                return

    def valid(self) -> bool:
        """Whether the batch may send its next message (a monotonic clock read)."""
        return time.monotonic() < self._good_until

    def end(self) -> None:
        """Stop the heartbeat and mark the task done if this run held it (a failure only logs)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self.book is not None and self._held:
            try:
                self.book.done(self.task_id, self.holder)
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
