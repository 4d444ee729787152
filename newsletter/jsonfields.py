"""Reading documented JSON objects field by field.

Every reader raises :class:`ContentError` with the dotted path of the field
that is wrong (``update.events[2].start``), so a person can fix the file.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from newsletter.errors import UserError


class ContentError(UserError, ValueError):
    """Raised when structured content is malformed; the message names the field."""


def require_object(data: Any, where: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ContentError(f"{where}: expected a JSON object")
    return data


def require_str(obj: dict[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ContentError(f"{where}.{key}: required text is missing")
    return value


def optional_str(obj: dict[str, Any], key: str, where: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ContentError(f"{where}.{key}: must be text or null")
    return value


def parse_datetime(text: str, zone: ZoneInfo, where: str) -> datetime:
    """Parse ISO 8601; a value without an offset is local time in ``zone``."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ContentError(f"{where}: not an ISO 8601 date-time: {text!r}") from exc
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value
