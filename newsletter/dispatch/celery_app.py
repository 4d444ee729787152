"""The Celery application, built from settings.

JSON only (never pickle); ``acks_late`` with ``reject_on_worker_lost`` so a
task whose worker dies is redelivered (a batch's copy that finds its killed
run's lease not yet lapsed ends, and recovery takes the rows back once it
lapses: ``newsletter.dispatch.leases``); prefetch 1 so a busy worker does
not hoard batches; separate queues for planning, delivery and maintenance;
beat runs due sends, reminders, recovery and the bounce mailbox poll.

The routing comes from one table, ``newsletter.dispatch.queue.QUEUE_OF``,
which the sender (``CeleryQueue``) uses too.  This module lives in the
dispatch layer so that the sender can import it without reaching up into
``workers/``; ``workers/celery_app.py`` is only the entry point Celery is
pointed at.  Start with ``newsletter worker`` and ``newsletter beat`` (or
``celery -A workers.celery_app worker``).
"""

from __future__ import annotations

import gc
import logging
from typing import Any

from celery import Celery
from celery.signals import worker_init, worker_process_init
from kombu import Queue
from sqlalchemy.orm import configure_mappers

from newsletter.config import get_settings
from newsletter.db import get_engine
from newsletter.dispatch.leases import task_book
from newsletter.dispatch.queue import QUEUE_OF

log = logging.getLogger(__name__)

# Every queue a task is routed to, in first-use order (plan, deliver, maintenance).
QUEUES = tuple(dict.fromkeys(QUEUE_OF.values()))
# How often beat looks for due sends, reminders and stuck work (seconds).
DUE_EVERY = 10.0
REMINDERS_EVERY = 60.0
# Recovery reads the workers' heartbeats (leases of 20 s by default), so a dead
# worker's rows are back within a lease and a run: under a minute.
RECOVER_EVERY = 15.0
BOUNCES_EVERY = 300.0


def transport_options(visibility_timeout: float) -> dict[str, float]:
    """The Redis transport's options for a visibility timeout (seconds).

    A task not acknowledged ``visibility_timeout`` after a worker took it is
    put back in the queue under the same id; a redelivered task must not wait
    the transport's default hour after a worker dies or a broker restarts.
    A batch may run longer than the timeout (a rate limit, a slow server):
    its copy then finds the lease held and ends without sending
    (``newsletter.dispatch.leases``).  The transport looks for such tasks
    every tenth of the timeout, between one and ten seconds, rather than its
    default of every hundred seconds, so a short timeout means what it says.
    """
    return {
        "visibility_timeout": visibility_timeout,
        "unacked_restore_interval": min(max(visibility_timeout / 10, 1.0), 10.0),
        "unacked_restore_throttle": 1,
    }


def make_app() -> Celery:
    """A Celery app configured from ``NEWSLETTER_*`` settings."""
    settings = get_settings()
    broker = settings.broker_url or "memory://"
    # ``include``, not a forced autodiscovery: workers.tasks imports ``app``
    # from this module (through workers.celery_app), so importing it while
    # ``app`` is being built would be circular.  The worker imports it when it
    # starts.  Named as a string: the dispatch layer never imports workers/.
    celery = Celery(
        "newsletter",
        broker=broker,
        backend=settings.result_backend_url,
        include=["workers.tasks"],
    )
    celery.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=settings.result_backend_url is None,
        task_queues=[Queue(name) for name in QUEUES],
        task_default_queue="deliver",
        task_routes={f"newsletter.{name}": {"queue": queue} for name, queue in QUEUE_OF.items()},
        broker_transport_options=transport_options(settings.broker_visibility_timeout_seconds),
        broker_connection_retry_on_startup=True,
        worker_cancel_long_running_tasks_on_connection_loss=False,
        timezone="UTC",
        enable_utc=True,
        beat_schedule={
            "dispatch-due-sends": {"task": "newsletter.dispatch_due", "schedule": DUE_EVERY},
            "send-event-reminders": {
                "task": "newsletter.send_reminders",
                "schedule": REMINDERS_EVERY,
            },
            "recover-stuck-deliveries": {"task": "newsletter.recover", "schedule": RECOVER_EVERY},
            "poll-bounce-mailbox": {"task": "newsletter.poll_bounces", "schedule": BOUNCES_EVERY},
        },
    )
    return celery


@worker_process_init.connect
def _own_connections(**_: Any) -> None:
    """Give each pool process its own database and Redis connections, opened now.

    ``newsletter worker`` opens the store (to migrate or check it) before
    Celery forks its pool; a forked child would otherwise share the parent's
    pooled PostgreSQL sockets with its siblings, and their queries would
    interleave on one connection.  ``close=False`` leaves the parent's
    sockets alone (closing them here would end the parent's session).

    The child then opens its own connections to the store and to the task
    book's Redis before its first task: otherwise the first planning and the
    first batch of the first send each wait for them (docs/performance.md,
    "Time to first message").  A failure here only logs: the task that needs
    the connection will meet the problem and handle it as usual.
    """
    get_engine().dispose(close=False)
    try:
        with get_engine().connect():
            pass
        book = task_book()
        if book is not None:
            book.client.ping()
    except Exception as exc:
        log.warning("could not open the connections of a new worker process: %s", exc)


@worker_process_init.connect
def _freeze_long_lived_objects(**_: Any) -> None:
    """Take what a pool process starts with out of the garbage collector's sight.

    The modules, the renderer and the app live as long as the process; a
    full collection would otherwise walk all of them every few thousand
    messages.  Frozen objects are still freed by reference counting, only
    never scanned for cycles (docs/performance.md has the measured gain).
    """
    gc.freeze()


@worker_init.connect
def _warm_renderer(**_: Any) -> None:
    """Load and exercise the renderer in the worker's main process, before the pool forks.

    The task modules load the renderer only when a send is planned (so that
    senders such as the CLI never do); a worker does it here instead, once,
    and its pool processes inherit it warm.  Otherwise the first send planned
    after a worker starts pays the import and the first render, about 0.3 s
    of CPU, before its first message (docs/performance.md).
    """
    from newsletter.render import warm_up

    warm_up()


@worker_init.connect
def _configure_mappers(**_: Any) -> None:
    """Configure the ORM's mappers in the worker's main process, before the pool forks.

    SQLAlchemy configures every mapper on the first query of a process; in
    each pool process that took 23 ms (measured) inside the first planning
    and again inside the first batch, both on the way to a send's first message.
    """
    import newsletter.models  # noqa: F401 (every mapped class, so all are configured)

    configure_mappers()


app = make_app()
# Apps by (broker, result backend), for senders whose settings changed after
# import (tests and the demo switch brokers); ``app`` is the import-time one.
_apps: dict[tuple[str | None, str | None], Celery] = {
    (get_settings().broker_url, get_settings().result_backend_url): app
}


def app_for_settings() -> Celery:
    """The app for the current settings: ``app`` unless the broker changed since import.

    Sending a task by name needs no task registry, so a sender can use an app
    built later from the new settings.
    """
    settings = get_settings()
    key = (settings.broker_url, settings.result_backend_url)
    current = _apps.get(key)
    if current is None:
        current = _apps[key] = make_app()
    return current
