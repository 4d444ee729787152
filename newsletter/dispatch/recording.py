"""Recording delivery results: in groups, one transaction each, optionally in the background.

Results are written every :data:`RECORD_EVERY` messages (sooner when they
would otherwise wait longer than :data:`RECORD_WITHIN` seconds).  While sending goes
well, a group is written by a writer thread while the next group is sent (the
database driver releases the GIL while it waits), with at most one write in
flight; so at most :data:`UNRECORDED_LIMIT` messages of a batch are sent and
not yet recorded, which bounds what a killed worker can cause to be sent
twice unless the result journal (``newsletter.dispatch.journal``) names them;
a group's journal entries are dropped once the store has committed it.  What
one write does is in ``newsletter.dispatch.result_store``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

from newsletter.dispatch.batches import enqueue_batch
from newsletter.dispatch.journal import Journal, NoJournal
from newsletter.dispatch.result_store import ResultGroup, WriteOutcome, write_group
from newsletter.models import utcnow

# Results are written to the store every this many messages (and at the end).
RECORD_EVERY = 25
# ... or once the oldest unrecorded result is this old (seconds), whichever
# comes first: on a slow server (a few messages a second) the counts the
# console polls every 1.5 s, and a pause, then lag by under a second instead
# of by up to 25 messages.
RECORD_WITHIN = 0.5
# With one group being written while the next is sent, this many messages of a
# batch at most are sent and not yet recorded: the most a killed worker can
# cause to be sent twice.
UNRECORDED_LIMIT = 2 * RECORD_EVERY


@dataclass(frozen=True)
class Row:
    """A claimed delivery with what sending it needs."""

    delivery_id: int
    segment: str
    attempts: int
    subscriber_id: int
    email: str
    name: str
    status: str
    suppressed: bool


class Recorder:
    """Collects results and writes them a group at a time.

    ``record_in_background`` hands the current group to a writer thread and
    returns at once, so the next messages go out while the store commits
    (its driver releases the GIL while it waits); at most one write is in
    flight, so at most :data:`UNRECORDED_LIMIT` messages of a batch are sent
    and not yet recorded.  ``flush`` writes everything and waits.  Retries
    are enqueued from the calling thread once their rows are written.
    """

    def __init__(self, send_id: int, journal: Journal | None = None) -> None:
        self.send_id = send_id
        self.journal: Journal = journal or NoJournal()
        self.group = ResultGroup()
        self.failures_since_success = 0
        self.last_status: str | None = "sending"
        self._writer: ThreadPoolExecutor | None = None
        self._in_flight: Future[WriteOutcome] | None = None
        self._group_opened = time.monotonic()

    @property
    def pending_count(self) -> int:
        """Results collected and not yet handed to the writer."""
        return self.group.size

    def due(self) -> bool:
        """True when the results collected should be written now.

        After :data:`RECORD_EVERY` results, or when the first of them is
        :data:`RECORD_WITHIN` seconds old.
        """
        size = self.group.size
        if size >= RECORD_EVERY:
            return True
        return size > 0 and time.monotonic() - self._group_opened >= RECORD_WITHIN

    def add_sent(self, row: Row, message_id: str, event_ids: Sequence[int]) -> None:
        self.group.sent.append({"did": row.delivery_id, "mid": message_id})
        self.group.event_recipients.extend(
            {
                "event_id": e,
                "subscriber_id": row.subscriber_id,
                "first_delivery_id": row.delivery_id,
            }
            for e in event_ids
        )
        self.group.had_success = True
        self.failures_since_success = 0
        self.group.size += 1

    def add_failed(self, row: Row, error: str, *, suppress: bool) -> None:
        self.group.failed.append({"did": row.delivery_id, "err": error[:1000]})
        if suppress:
            self.group.suppress.append((row.email, error))
        self.failures_since_success += 1
        self.group.size += 1

    def add_retry(self, row: Row, error: str, delay: float) -> None:
        self.group.retry.append(
            {
                "did": row.delivery_id,
                "err": error[:1000],
                "due": utcnow() + timedelta(seconds=delay),
                "delay": delay,
            }
        )
        self.failures_since_success += 1
        self.group.size += 1

    def add_skipped(self, delivery_id: int, reason: str) -> None:
        self.group.skipped.append({"did": delivery_id, "err": reason})
        self.group.size += 1

    def _take(self) -> ResultGroup:
        group = self.group
        group.failures_since_success = self.failures_since_success
        self.group = ResultGroup()
        self._group_opened = time.monotonic()
        return group

    def _collect(self) -> str | None:
        """Wait for the write in flight (re-raising its error); returns the status it saw."""
        if self._in_flight is not None:
            future, self._in_flight = self._in_flight, None
            outcome = future.result()
            self.journal.forget(self.send_id, outcome.sent_ids)
            if outcome.retry_ids:
                enqueue_batch(self.send_id, outcome.retry_ids, countdown=outcome.retry_delay)
            self.last_status = outcome.status
        return self.last_status

    def record_in_background(self) -> str | None:
        """Hand the current group to the writer; returns the status the previous write saw."""
        status = self._collect()
        if self._writer is None:
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="recorder")
        self._in_flight = self._writer.submit(write_group, self.send_id, self._take())
        return status

    def flush(self) -> str | None:
        """Write everything collected and wait; returns the send's status afterwards.

        With nothing collected (a batch whose last group went to the writer)
        there is nothing to write: the status is the one the last write saw.
        """
        self._collect()
        if not self.group.size:
            # An empty group would still cost a transaction that locks the
            # send's row (the failure streak): four statements per batch.
            return self.last_status
        outcome = write_group(self.send_id, self._take())
        self.journal.forget(self.send_id, outcome.sent_ids)
        if outcome.retry_ids:
            enqueue_batch(self.send_id, outcome.retry_ids, countdown=outcome.retry_delay)
        self.last_status = outcome.status
        return outcome.status

    def close(self) -> None:
        """Stop the writer thread (after its write, which ``flush`` has collected)."""
        if self._writer is not None:
            self._writer.shutdown(wait=True)
            self._writer = None
