"""Celery workers: the app (``celery_app``) and thin task wrappers (``tasks``)."""
