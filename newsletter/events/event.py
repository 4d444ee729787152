"""The event: what an organiser announces, as every part of the product reads it.

An :class:`Event` is built by ingest from an update's prose, stored as an
``events`` row (``newsletter.models.EventRecord``) and read back with
:func:`newsletter.events.queries.event_from_record`.  Every rendering of an
event (email block, invitation, notice, ``.ics`` file, feed, event page,
add-to-calendar links, reminders) is built from these structured fields at the
time of rendering; ``source`` (the sentence the event was found in) is kept
for organisers only and never shown to attendees, because it goes stale the
moment the event is moved.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from newsletter.jsonfields import (
    ContentError,
    optional_str,
    parse_datetime,
    require_object,
    require_str,
)

UK_TIMEZONE = "Europe/London"
# English month names whatever the process locale (strftime's %B follows it).
_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


def placeholder_title(region: str | None, day: date) -> str:
    """The title a featured event gets when the site printed none.

    It names the update and the day ("North East Region Update: featured
    event, 14 November 2018") and is marked ``needs_title`` until an organiser
    names the event; moving such an event rebuilds it, so it never shows a
    stale date.
    """
    prefix = f"{region} Region Update: " if region else ""
    return f"{prefix}featured event, {day.day} {_MONTHS[day.month - 1]} {day.year}"


@dataclass
class Event:
    """An event found in an update.

    ``start``/``end`` are timezone-aware.  An all-day event starts at local
    midnight in ``timezone`` and its ``end`` (if any) is the last day's
    midnight, inclusive: the calendar module turns it into an exclusive
    DTEND.  ``uid`` is the stable iCalendar UID, assigned when the event is
    stored and never changed afterwards; ``sequence`` rises with each change
    that was sent.  ``needs_title`` marks a title ingest made up (a featured
    event the site printed without one) until an organiser sets a real one.
    """

    title: str
    start: datetime
    end: datetime | None = None
    all_day: bool = False
    timezone: str = UK_TIMEZONE
    location: str | None = None
    featured: bool = False
    source: str = ""
    id: int | None = None
    uid: str | None = None
    url: str | None = None
    sequence: int = 0
    cancelled: bool = False
    needs_title: bool = False

    def __post_init__(self) -> None:
        if self.start.tzinfo is None:
            raise ContentError(f"event {self.title!r}: start must carry a time zone")
        if self.end is not None and self.end.tzinfo is None:
            raise ContentError(f"event {self.title!r}: end must carry a time zone")

    def to_json(self) -> dict[str, Any]:
        """Return the documented JSON object of this event."""
        return {
            "id": self.id,
            "title": self.title,
            "start": self.start.isoformat(),
            "end": self.end.isoformat() if self.end else None,
            "all_day": self.all_day,
            "timezone": self.timezone,
            "location": self.location,
            "featured": self.featured,
            "source": self.source,
            "needs_title": self.needs_title,
        }

    @classmethod
    def from_json(cls, data: Any, where: str = "event") -> Event:
        """Build an event from its JSON object; raises ContentError naming the field."""
        obj = require_object(data, where)
        tz_name = optional_str(obj, "timezone", where) or UK_TIMEZONE
        try:
            zone = ZoneInfo(tz_name)
        except (KeyError, ValueError) as exc:
            raise ContentError(f"{where}.timezone: unknown time zone {tz_name!r}") from exc
        start = parse_datetime(require_str(obj, "start", where), zone, f"{where}.start")
        end_text = optional_str(obj, "end", where)
        end = parse_datetime(end_text, zone, f"{where}.end") if end_text else None
        if end is not None and end < start:
            raise ContentError(f"{where}.end: ends before it starts")
        event_id = obj.get("id")
        if event_id is not None and not isinstance(event_id, int):
            raise ContentError(f"{where}.id: must be an integer or null")
        all_day = obj.get("all_day", False)
        featured = obj.get("featured", False)
        if not isinstance(all_day, bool):
            raise ContentError(f"{where}.all_day: must be true or false")
        if not isinstance(featured, bool):
            raise ContentError(f"{where}.featured: must be true or false")
        needs_title = obj.get("needs_title", False)
        if not isinstance(needs_title, bool):
            raise ContentError(f"{where}.needs_title: must be true or false")
        return cls(
            id=event_id,
            title=require_str(obj, "title", where),
            start=start,
            end=end,
            all_day=all_day,
            timezone=tz_name,
            location=optional_str(obj, "location", where),
            featured=featured,
            source=optional_str(obj, "source", where) or "",
            needs_title=needs_title,
        )
