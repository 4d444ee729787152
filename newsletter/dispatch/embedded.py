"""The embedded worker: Celery's job done in this process when there is no broker.

``run_until_idle`` drains the in-process queue (what ``newsletter send``
does with the embedded default).  ``EmbeddedWorker`` is a thread that runs
each task as soon as it is due and also plays beat: every few seconds it
starts due sends, recovers and sends reminders, and every five minutes it
polls the bounce mailbox.
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
    """Run queued tasks (and the due sends they lead to) until nothing is left.

    Delayed retries are waited for, but anything due meanwhile runs first.
    """
    dispatch_due()
    return in_process_queue().drain(on_task)


class EmbeddedWorker(threading.Thread):
    """A daemon thread doing the workers' job as tasks arrive, and beat's every ``interval``.

    Tasks run as soon as they are due: an enqueue wakes the thread, so a
    "send now" or a resume starts at once, and a retry waiting for its time
    (say, an address answering 451) holds up nothing else.  Every
    ``interval`` seconds it also starts due scheduled sends, sends reminders
    and recovers; every five minutes it polls the bounce mailbox.
    """

    # The bounce mailbox is polled this often (seconds), as beat does.
    BOUNCES_EVERY = 300.0

    def __init__(self, interval: float = 5.0) -> None:
        super().__init__(name="newsletter-embedded-worker", daemon=True)
        self.interval = interval
        self._next_bounce_poll = 0.0
        self._stop_event = threading.Event()

    def run(self) -> None:
        queue = in_process_queue()
        next_periodic = 0.0
        while not self._stop_event.is_set():
            try:
                if time.monotonic() >= next_periodic:
                    next_periodic = time.monotonic() + self.interval
                    self._periodic()
                queue.run_due()
            except Exception:  # keep the loop alive; the error is logged with its traceback
                log.exception("embedded worker iteration failed")
            if self._stop_event.is_set():
                break
            queue.wait_for_work(max(next_periodic - time.monotonic(), 0.0))

    def _periodic(self) -> None:
        """Beat's work: due sends, reminders, recovery and (now and then) bounces."""
        dispatch_due()
        send_reminders()
        recover()
        if time.monotonic() >= self._next_bounce_poll:
            self._next_bounce_poll = time.monotonic() + self.BOUNCES_EVERY
            poll_bounces()

    def stop(self) -> None:
        """Ask the loop to end after the task it is running (a wait ends at once)."""
        self._stop_event.set()
        in_process_queue().wake()
