"""Email newsletter and event-notification service for regional networks of
children's services leaders."""

from __future__ import annotations

__version__ = "0.1.0"
