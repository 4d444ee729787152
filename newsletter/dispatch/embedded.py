"""The embedded worker: Celery's job done in this process when there is no broker.

``run_until_idle`` drains the in-process queue (what ``newsletter send``
does with the embedded default).  ``EmbeddedWorker`` is a thread that also
plays beat: every few seconds it starts due sends, recovers, sends reminders
and drains the queue, and every five minutes it polls the bounce mailbox.
``newsletter web`` and ``newsletter worker`` run it when no ``BROKER_URL`` is set.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from newsletter.dispatch.maintenance import dispatch_due, poll_bounces, recover, send_reminders
from newsletter.dispatch.queue import in_process_queue

log = logging.getLogger(__name__)


def run_until_idle(on_task: Callable[[str], None] | None = None) -> int:
    """Run queued tasks (and the due sends they lead to) until nothing is left."""
    dispatch_due()
    return in_process_queue().drain(on_task)


class EmbeddedWorker(threading.Thread):
    """A daemon thread doing beat's and the workers' jobs every ``interval`` seconds."""

    # The bounce mailbox is polled this often (seconds), as beat does.
    BOUNCES_EVERY = 300.0

    def __init__(self, interval: float = 5.0) -> None:
        super().__init__(name="newsletter-embedded-worker", daemon=True)
        self.interval = interval
        self._next_bounce_poll = 0.0
        self._stop_event = threading.Event()
        self.lock = threading.Lock()

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                with self.lock:
                    dispatch_due()
                    send_reminders()
                    recover()
                    if time.monotonic() >= self._next_bounce_poll:
                        self._next_bounce_poll = time.monotonic() + self.BOUNCES_EVERY
                        poll_bounces()
                    in_process_queue().drain()
            except Exception:  # keep the loop alive; the error is logged with its traceback
                log.exception("embedded worker iteration failed")
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        """Ask the loop to end after its current iteration."""
        self._stop_event.set()
