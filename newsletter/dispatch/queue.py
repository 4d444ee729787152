"""Where tasks go: Celery (when ``BROKER_URL`` is set) or an in-process queue.

Tasks are named, take JSON-able ids only, and are always enqueued after the
transaction that made their rows has committed (docs/architecture.md,
"Rows before tasks").  The
in-process queue runs the very same task functions in this process, in due
order, which is how the embedded default works without any server.
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
}


def task_function(name: str) -> Callable[..., Any]:
    """The function behind task ``name``; raises KeyError for an unknown name."""
    module, attribute = TASKS[name]
    function: Callable[..., Any] = getattr(importlib.import_module(module), attribute)
    return function


class TaskQueue(Protocol):
    """Something that runs named tasks later."""

    def enqueue(self, name: str, *args: Any, countdown: float | None = None) -> None:
        """Run task ``name`` with ``args`` (ids only) after ``countdown`` seconds."""


class InProcessQueue:
    """Runs tasks in this process, earliest due first, when :meth:`drain` is called."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, str, tuple[Any, ...]]] = []
        self._order = itertools.count()
        # Web request threads enqueue while the embedded worker thread drains.
        self._lock = threading.Lock()

    def enqueue(self, name: str, *args: Any, countdown: float | None = None) -> None:
        task_function(name)  # fail now, not later, on an unknown task
        due = time.monotonic() + (countdown or 0.0)
        with self._lock:
            heapq.heappush(self._heap, (due, next(self._order), name, args))

    def __len__(self) -> int:
        return len(self._heap)

    def drain(self, on_task: Callable[[str], None] | None = None) -> int:
        """Run tasks until none is left (waiting for delayed ones); returns how many ran."""
        ran = 0
        while True:
            with self._lock:
                if not self._heap:
                    return ran
                due, _, name, args = heapq.heappop(self._heap)
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            task_function(name)(*args)
            ran += 1
            if on_task is not None:
                on_task(name)


class CeleryQueue:
    """Sends tasks to the Celery broker by name (no import of the worker code).

    Only the name is checked here, not the task's module: importing the
    planner would pull the renderer (premailer, lxml) into every process
    that merely enqueues, the CLI included (docs/performance.md).
    """

    def enqueue(self, name: str, *args: Any, countdown: float | None = None) -> None:
        from newsletter.dispatch.celery_app import app_for_settings

        if name not in TASKS:
            raise KeyError(name)
        app_for_settings().send_task(
            f"newsletter.{name}", args=list(args), countdown=countdown, queue=QUEUE_OF[name]
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
