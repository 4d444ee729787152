"""The web app (FastAPI): public pages, the organiser console and the REST API."""

from __future__ import annotations

from newsletter.web.app import create_app

__all__ = ["create_app"]
