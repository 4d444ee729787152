"""Where tasks go: Celery (when ``BROKER_URL`` is set) or an in-process queue.

Tasks are named, take JSON-able ids only, and are always enqueued after the
transaction that made their rows has committed (docs/architecture.md,
"Rows before tasks").  The
in-process queue runs the very same task functions in this process, in due
order, which is how the embedded default works without any server: it runs
whatever is due and never sleeps while something is due, and delayed tasks
(retries after a temporary failure) wait apart until their time.
"""

from __future__ import annotations

import heapq
import importlib
import itertools
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from newsletter.config import get_settings

# Task name → (module, function).  Celery task names are "newsletter.<name>".
TASKS: dict[str, tuple[str, str]] = {
    "plan_send": ("newsletter.dispatch.planning", "plan_send"),
    "deliver_batch": ("newsletter.dispatch.delivery", "deliver_batch"),
    "dispatch_due": ("newsletter.dispatch.maintenance", "dispatch_due"),
    "recover": ("newsletter.dispatch.maintenance", "recover"),
    "send_reminders": ("newsletter.dispatch.maintenance", "send_reminders"),
    "poll_bounces": ("newsletter.dispatch.maintenance", "poll_bounces"),
    "request_confirmation": ("newsletter.subscription_mail", "request_confirmation"),
    "request_preferences_link": ("newsletter.subscription_mail", "request_preferences_link"),
    "run_import": ("newsletter.imports", "run_import"),
}
# Which Celery queue each task goes to: planning, delivery and maintenance are
# separate so that a long send never delays beat's periodic work.  The one
# routing table: the Celery app's task_routes and queues are made from it.
QUEUE_OF: dict[str, str] = {
    "plan_send": "plan",
    "deliver_batch": "deliver",
    "dispatch_due": "maintenance",
    "recover": "maintenance",
    "send_reminders": "maintenance",
    "poll_bounces": "maintenance",
    "request_confirmation": "maintenance",
    "request_preferences_link": "maintenance",
    "run_import": "maintenance",
}


def task_function(name: str) -> Callable[..., Any]:
    """The function behind task ``name``; raises KeyError for an unknown name."""
    module, attribute = TASKS[name]
    function: Callable[..., Any] = getattr(importlib.import_module(module), attribute)
    return function


class TaskQueue(Protocol):
    """Something that runs named tasks later."""

    def enqueue(
        self, name: str, *args: Any, countdown: float | None = None, task_id: str | None = None
    ) -> None:
        """Run task ``name`` with ``args`` (ids only) after ``countdown`` seconds.

        ``task_id`` names the task (Celery's task id), for work that tracks it.
        """


class InProcessQueue:
    """Runs tasks in this process: every due task in due order, never waiting while one is due.

    Tasks due now wait in ``_ready``; tasks enqueued with a countdown (delayed
    retries, rate-limit back-offs) wait in ``_delayed`` until their time, so a
    retry far in the future never stands in front of work that could run now.
    Both are heaps ordered by (due time, enqueue order).  Enqueueing wakes a
    thread blocked in :meth:`wait_for_work`.
    """

    def __init__(self) -> None:
        self._ready: list[tuple[float, int, str, tuple[Any, ...]]] = []
        self._delayed: list[tuple[float, int, str, tuple[Any, ...]]] = []
        self._order = itertools.count()
        # Web request threads enqueue while the embedded worker thread runs tasks.
        self._changed = threading.Condition(threading.Lock())
        self._wakeups = 0

    def enqueue(
        self, name: str, *args: Any, countdown: float | None = None, task_id: str | None = None
    ) -> None:
        task_function(name)  # fail now, not later, on an unknown task
        now = time.monotonic()
        due = now + max(countdown or 0.0, 0.0)
        item = (due, next(self._order), name, args)
        with self._changed:
            heapq.heappush(self._ready if due <= now else self._delayed, item)
            self._changed.notify_all()

    def __len__(self) -> int:
        with self._changed:
            return len(self._ready) + len(self._delayed)

    def clear(self) -> int:
        """Drop every queued task, due or delayed; returns how many were dropped."""
        with self._changed:
            dropped = len(self._ready) + len(self._delayed)
            self._ready.clear()
            self._delayed.clear()
            return dropped

    def delayed_count(self) -> int:
        """How many tasks wait for a later time."""
        with self._changed:
            return len(self._delayed)

    def _promote(self, now: float) -> None:
        """Move delayed tasks whose time has come to the ready heap (lock held)."""
        while self._delayed and self._delayed[0][0] <= now:
            heapq.heappush(self._ready, heapq.heappop(self._delayed))

    def _next_due(self) -> tuple[float, int, str, tuple[Any, ...]] | None:
        with self._changed:
            self._promote(time.monotonic())
            return heapq.heappop(self._ready) if self._ready else None

    def run_due(self, on_task: Callable[[str], None] | None = None) -> int:
        """Run every task that is due, earliest first, including those they enqueue.

        Never sleeps: returns (with how many ran) as soon as nothing is due,
        leaving delayed tasks in place.
        """
        ran = 0
        while (item := self._next_due()) is not None:
            _, _, name, args = item
            task_function(name)(*args)
            ran += 1
            if on_task is not None:
                on_task(name)
        return ran

    def seconds_until_due(self) -> float | None:
        """0 when a task is due, else the wait until the first delayed one (None: empty)."""
        with self._changed:
            now = time.monotonic()
            self._promote(now)
            if self._ready:
                return 0.0
            if self._delayed:
                return max(self._delayed[0][0] - now, 0.0)
            return None

    def wait_for_work(self, timeout: float) -> bool:
        """Block until a task is due, :meth:`wake` is called or ``timeout`` seconds pass.

        Returns True when a task is due.
        """
        deadline = time.monotonic() + timeout
        with self._changed:
            wakeups = self._wakeups
            while True:
                now = time.monotonic()
                self._promote(now)
                if self._ready:
                    return True
                if self._wakeups != wakeups:
                    return False
                until = deadline - now
                if self._delayed:
                    until = min(until, self._delayed[0][0] - now)
                if until <= 0:
                    return False
                self._changed.wait(until)

    def wake(self) -> None:
        """Release every thread blocked in :meth:`wait_for_work` (used to stop a worker)."""
        with self._changed:
            self._wakeups += 1
            self._changed.notify_all()

    def drain(self, on_task: Callable[[str], None] | None = None) -> int:
        """Run tasks until none is left, waiting for delayed ones; returns how many ran.

        Due tasks always run before the wait for a delayed one, and a task
        enqueued meanwhile (by another thread) is run as soon as it arrives.
        """
        ran = 0
        while True:
            ran += self.run_due(on_task)
            wait = self.seconds_until_due()
            if wait is None:
                return ran
            if wait > 0:
                self.wait_for_work(wait)


class CeleryQueue:
    """Sends tasks to the Celery broker by name (no import of the worker code).

    Only the name is checked here, not the task's module: importing the
    planner would pull the renderer (premailer, lxml) into every process
    that merely enqueues, the CLI included (docs/performance.md).  A task due
    at once on a Redis broker is written there directly, as a Celery task
    message (``newsletter.dispatch.task_message``), without loading Celery;
    the rest goes through Celery's client.
    """

    def enqueue(
        self, name: str, *args: Any, countdown: float | None = None, task_id: str | None = None
    ) -> None:
        if name not in TASKS:
            raise KeyError(name)
        from newsletter.dispatch import task_message

        broker_url = get_settings().broker_url or ""
        if countdown is None and task_message.accepts(broker_url):
            task_message.publish(
                broker_url, f"newsletter.{name}", list(args), QUEUE_OF[name], task_id
            )
            return
        from newsletter.dispatch.celery_app import app_for_settings

        app_for_settings().send_task(
            f"newsletter.{name}",
            args=list(args),
            countdown=countdown,
            queue=QUEUE_OF[name],
            task_id=task_id,
        )


_in_process = InProcessQueue()


def get_queue() -> TaskQueue:
    """The queue for the current settings: Celery with a broker, else in-process."""
    if get_settings().broker_url:
        return CeleryQueue()
    return _in_process


def in_process_queue() -> InProcessQueue:
    """The process-wide in-process queue (the embedded default drains it)."""
    return _in_process
