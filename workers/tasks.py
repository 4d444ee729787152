"""Celery tasks: thin wrappers, ids in, the work done by ``newsletter.dispatch``."""

from __future__ import annotations

from typing import Any

from newsletter import imports, subscription_mail
from newsletter.dispatch import delivery, maintenance, planning
from newsletter.dispatch.leases import LeaseUnavailable
from workers.celery_app import app


@app.task(name="newsletter.plan_send", bind=True)
def plan_send(self: Any, send_id: int) -> None:
    """Plan a due send: editions, delivery rows, batches."""
    try:
        planning.plan_send(send_id, task_id=self.request.id)
    except LeaseUnavailable as exc:
        raise self.retry(exc=exc, countdown=5, max_retries=None) from exc


@app.task(name="newsletter.deliver_batch", bind=True)
def deliver_batch(self: Any, send_id: int, delivery_ids: list[int]) -> None:
    """Deliver one batch; the Celery task id names the claim and the lease.

    A copy of the task run while another run holds its lease sends nothing
    and ends (``newsletter.dispatch.leases``).

    Without a heartbeat (Redis unreachable for a moment) the task is retried
    under the same id, so its rows stay known as queued.
    """
    try:
        delivery.deliver_batch(send_id, delivery_ids, task_id=self.request.id)
    except LeaseUnavailable as exc:
        raise self.retry(exc=exc, countdown=5, max_retries=None) from exc


@app.task(name="newsletter.dispatch_due")
def dispatch_due() -> None:
    """Start scheduled sends whose time has come."""
    maintenance.dispatch_due()


@app.task(name="newsletter.recover")
def recover() -> None:
    """Take back stuck claims, re-enqueue lost batches, finish finished sends."""
    maintenance.recover()


@app.task(name="newsletter.send_reminders")
def send_reminders() -> None:
    """Create due event reminder sends."""
    maintenance.send_reminders()


@app.task(name="newsletter.poll_bounces")
def poll_bounces() -> None:
    """Read the bounce mailbox, if one is configured."""
    maintenance.poll_bounces()


@app.task(name="newsletter.request_confirmation")
def request_confirmation(email: str, name: str, organisation: str, role: str) -> str:
    """Email a double opt-in link if the address should get one (the task decides)."""
    return subscription_mail.request_confirmation(email, name, organisation, role)


@app.task(name="newsletter.request_preferences_link")
def request_preferences_link(email: str) -> str:
    """Email a preferences link if the address is on the list (the task decides)."""
    return subscription_mail.request_preferences_link(email)


@app.task(name="newsletter.run_import")
def run_import(job_id: int) -> None:
    """Import an uploaded subscriber CSV, recording progress on its job row."""
    imports.run_import(job_id)
