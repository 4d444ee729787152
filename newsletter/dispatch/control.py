"""Organiser actions that change a send and then wake the workers.

Each opens its own transaction, commits, and only then enqueues tasks
(docs/architecture.md, "Rows before tasks"): a worker never sees a task before the rows it names.
"""

from __future__ import annotations

from datetime import datetime

from newsletter import sends
from newsletter.db import session_scope
from newsletter.dispatch.batches import enqueue_pending
from newsletter.dispatch.queue import get_queue
from newsletter.models import utcnow


def start_if_due(send_id: int) -> bool:
    """Enqueue planning if the send is scheduled and due now; True if enqueued."""
    with session_scope() as session:
        send = sends.get_send(session, send_id)
        is_due = send.status == sends.SCHEDULED and (
            send.scheduled_at is None or send.scheduled_at <= utcnow()
        )
    if is_due:
        get_queue().enqueue("plan_send", send_id)
    return is_due


def send_now(send_id: int) -> None:
    """Start a scheduled (or draft) send now instead of at its time.

    Raises SendStateError (a Conflict) for a send in another state.
    """
    with session_scope() as session:
        sends.schedule(session, send_id, utcnow())
    start_if_due(send_id)


def reschedule(send_id: int, at: datetime) -> None:
    """Move a scheduled (or draft) send to ``at``.

    Raises SendStateError for a send in another state, UserError for a time in the past.
    """
    from newsletter.send_review import check_time

    check_time(at)
    with session_scope() as session:
        sends.schedule(session, send_id, at)
    start_if_due(send_id)


def pause(send_id: int) -> None:
    """Pause the send; raises SendStateError if it cannot be paused."""
    with session_scope() as session:
        sends.pause(session, send_id)


def resume(send_id: int) -> str:
    """Resume a paused send and re-enqueue what it still has to send."""
    with session_scope() as session:
        status = sends.resume(session, send_id)
    if status == sends.SENDING:
        enqueue_pending(send_id)
    else:
        start_if_due(send_id)
    return status


def cancel(send_id: int) -> int:
    """Cancel the send; returns how many pending deliveries were skipped."""
    with session_scope() as session:
        return sends.cancel(session, send_id)


ACTIONS = ("pause", "resume", "cancel")


def apply(send_id: int, action: str) -> None:
    """Run ``action`` (pause, resume or cancel) on the send, as the console and API do.

    Raises ValueError for an unknown action and SendStateError for an impossible change.
    """
    if action == "pause":
        pause(send_id)
    elif action == "resume":
        resume(send_id)
    elif action == "cancel":
        cancel(send_id)
    else:
        raise ValueError(f"unknown action {action!r} (one of {', '.join(ACTIONS)})")
