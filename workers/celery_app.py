"""The entry point Celery is pointed at (``celery -A workers.celery_app worker``).

The application and its configuration live in ``newsletter.dispatch.celery_app``
(see docs/architecture.md, "Layers"); this module only re-exports them so that
the worker command line and ``workers.tasks`` find ``app`` here.
"""

from __future__ import annotations

from newsletter.dispatch.celery_app import QUEUES, app, app_for_settings, make_app

__all__ = ["QUEUES", "app", "app_for_settings", "make_app"]
