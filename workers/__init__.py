"""Celery workers: the entry point (``celery_app``) and thin task wrappers (``tasks``)."""
