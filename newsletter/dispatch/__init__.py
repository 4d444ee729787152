"""The dispatch engine: plan sends into Delivery rows, deliver them in batches.

Modules: ``queue`` (Celery or in-process), ``planning`` (audience snapshot,
editions rendered once), ``delivery`` (claim, send, record), ``batches``
(enqueueing and finishing), ``maintenance`` (due sends, recovery,
reminders), ``runtime`` (per-process transport and templates), ``ratelimit``.
"""
