"""When an event happens, in the two shapes calendars need.

Timed events become a pair of UTC instants (links use them with ``Z``; the
.ics writes them as Europe/London wall-clock time).  All-day events become a
pair of dates with an *exclusive* end, as RFC 5545 §3.6.1 and every
add-to-calendar deeplink expect: an event on 14 November alone ends on
15 November.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from newsletter.content import UK_TIMEZONE, Event

LONDON = ZoneInfo(UK_TIMEZONE)
# An event announced without an end time is shown as lasting an hour: a
# zero-length entry is easy to miss in a day view, and RFC 5545 §3.6.1 would
# otherwise make a timed event without DTEND/DURATION end when it starts.
DEFAULT_DURATION = timedelta(hours=1)


def timed_span(event: Event) -> tuple[datetime, datetime]:
    """Return the (start, end) instants of a timed event, both in UTC.

    ``end`` None means :data:`DEFAULT_DURATION` after the start (measured in
    real time, so an event that crosses a clock change still lasts an hour).
    Raises ValueError when the end is before the start.
    """
    start = event.start.astimezone(UTC)
    end = event.end.astimezone(UTC) if event.end is not None else start + DEFAULT_DURATION
    if end < start:
        raise ValueError(f"event {event.title!r} ends before it starts")
    return start, end


def all_day_span(event: Event) -> tuple[date, date]:
    """Return (first day, day after the last day) of an all-day event.

    The days are read in the event's own time zone; ``Event.end`` holds the
    last day inclusive (see :class:`newsletter.content.Event`), and None means
    a one-day event.  Raises ValueError for an unknown zone or an end before
    the start.
    """
    try:
        zone = ZoneInfo(event.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"event {event.title!r}: unknown time zone {event.timezone!r}") from exc
    first = event.start.astimezone(zone).date()
    last = event.end.astimezone(zone).date() if event.end is not None else first
    if last < first:
        raise ValueError(f"event {event.title!r} ends before it starts")
    return first, last + timedelta(days=1)
