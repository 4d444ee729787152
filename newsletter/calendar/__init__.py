"""Calendar output for events: iCalendar parts, feeds and add-to-calendar links.

``newsletter.calendar`` is the import path; the work is split by concern:

* :mod:`.ics` — VCALENDAR/VEVENT with ``icalendar`` (:func:`build_calendar`, :func:`feed`);
* :mod:`.vtimezone` — the hand-written rule-based Europe/London VTIMEZONE;
* :mod:`.parts` — PUBLISH/REQUEST/CANCEL message parts and the cheap
  per-recipient ATTENDEE splice (:func:`with_attendee`);
* :mod:`.links` — Google / Outlook.com / Office 365 / Yahoo links and the .ics URL;
* :mod:`.times` — UTC instants and exclusive all-day dates of an event.
"""

from __future__ import annotations

from newsletter.calendar.ics import PRODID, build_calendar, describe, feed
from newsletter.calendar.links import (
    CalendarLinks,
    calendar_links,
    google_calendar_url,
    ics_download_url,
    outlook_calendar_url,
    yahoo_calendar_url,
)
from newsletter.calendar.parts import (
    attendee_line,
    cancel_part,
    fold_line,
    ics_filename,
    publish_part,
    request_part,
    with_attendee,
)
from newsletter.calendar.times import DEFAULT_DURATION, all_day_span, timed_span
from newsletter.calendar.vtimezone import LONDON_TZID, london_vtimezone

__all__ = [
    "DEFAULT_DURATION",
    "LONDON_TZID",
    "PRODID",
    "CalendarLinks",
    "all_day_span",
    "attendee_line",
    "build_calendar",
    "calendar_links",
    "cancel_part",
    "describe",
    "feed",
    "fold_line",
    "google_calendar_url",
    "ics_download_url",
    "ics_filename",
    "london_vtimezone",
    "outlook_calendar_url",
    "publish_part",
    "request_part",
    "timed_span",
    "with_attendee",
    "yahoo_calendar_url",
]
