"""Add-to-calendar links for people whose mail client ignores the .ics part.

Google Calendar's TEMPLATE URL and the Outlook.com / Office 365 compose
deeplinks are undocumented-but-stable web APIs.  Contract of every link:

* times in UTC with a trailing ``Z`` (no zone guessing by the web app);
* all-day events as dates with an *exclusive* end (the day after the last);
* every parameter percent-encoded with ``urlencode(..., quote_via=quote)``,
  so spaces are ``%20``: Outlook's deeplink handler shows a literal ``+``
  for the form encoding that ``quote_plus`` would give.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlencode

from newsletter.calendar.ics import describe
from newsletter.calendar.times import all_day_span, timed_span
from newsletter.config import get_settings
from newsletter.content import Event

GOOGLE_URL = "https://calendar.google.com/calendar/render"
OUTLOOK_URL = "https://outlook.live.com/calendar/0/deeplink/compose"
OFFICE365_URL = "https://outlook.office.com/calendar/0/deeplink/compose"
YAHOO_URL = "https://calendar.yahoo.com/"
# Browsers and Outlook's deeplink handler cut URLs somewhere past 2,000
# characters; the description is the only part that can grow without bound.
MAX_DETAILS = 800


@dataclass(frozen=True)
class CalendarLinks:
    """The ways an email or page offers to add an event to a calendar.

    ``ics`` is None while the event has no id (a preview of an update that
    is not stored yet): there is nothing to download.
    """

    google: str
    outlook: str
    office365: str
    ics: str | None
    yahoo: str = ""


def _details(event: Event, details: str | None) -> str:
    text = describe(event) if details is None else details
    if len(text) > MAX_DETAILS:
        text = text[: MAX_DETAILS - 1].rsplit(None, 1)[0] + "…"
    return text


def google_calendar_url(event: Event, details: str | None = None) -> str:
    """Google Calendar "create event" URL for ``event``.

    ``dates`` is ``YYYYMMDDTHHMMSSZ/YYYYMMDDTHHMMSSZ`` for a timed event and
    ``YYYYMMDD/YYYYMMDD`` (end exclusive) for an all-day one.  ``details``
    defaults to the event's plain-text description.
    """
    if event.all_day:
        first, after_last = all_day_span(event)
        dates = f"{first:%Y%m%d}/{after_last:%Y%m%d}"
    else:
        start, end = timed_span(event)
        dates = f"{start:%Y%m%dT%H%M%SZ}/{end:%Y%m%dT%H%M%SZ}"
    params = {"action": "TEMPLATE", "text": event.title, "dates": dates}
    params["details"] = _details(event, details)
    if event.location:
        params["location"] = event.location
    return f"{GOOGLE_URL}?{urlencode(params, quote_via=quote)}"


def outlook_calendar_url(
    event: Event, *, office365: bool = False, details: str | None = None
) -> str:
    """Outlook on the web compose deeplink: Outlook.com, or Office 365 with ``office365``.

    ``startdt``/``enddt`` are ISO 8601 UTC (``2026-07-10T14:00:00Z``) with
    ``allday=false``, or plain dates with ``allday=true`` and an exclusive end.
    """
    if event.all_day:
        first, after_last = all_day_span(event)
        startdt, enddt, allday = first.isoformat(), after_last.isoformat(), "true"
    else:
        start, end = timed_span(event)
        startdt, enddt = f"{start:%Y-%m-%dT%H:%M:%SZ}", f"{end:%Y-%m-%dT%H:%M:%SZ}"
        allday = "false"
    params = {
        "path": "/calendar/action/compose",
        "rru": "addevent",
        "subject": event.title,
        "startdt": startdt,
        "enddt": enddt,
        "allday": allday,
        "body": _details(event, details),
    }
    if event.location:
        params["location"] = event.location
    base = OFFICE365_URL if office365 else OUTLOOK_URL
    return f"{base}?{urlencode(params, quote_via=quote)}"


def yahoo_calendar_url(event: Event, details: str | None = None) -> str:
    """Yahoo Calendar "add event" URL (``v=60``): UTC ``st``/``et``, or ``dur=allday`` dates."""
    params = {"v": "60", "title": event.title}
    if event.all_day:
        first, after_last = all_day_span(event)
        params.update(st=f"{first:%Y%m%d}", et=f"{after_last:%Y%m%d}", dur="allday")
    else:
        start, end = timed_span(event)
        params.update(st=f"{start:%Y%m%dT%H%M%SZ}", et=f"{end:%Y%m%dT%H%M%SZ}")
    params["desc"] = _details(event, details)
    if event.location:
        params["in_loc"] = event.location
    return f"{YAHOO_URL}?{urlencode(params, quote_via=quote)}"


def ics_download_url(event: Event, base_url: str | None = None) -> str:
    """``{base_url}/events/{id}.ics``; ``base_url`` defaults to ``settings.base_url``.

    Production's base URL is HTTPS (the web app serves the file); raises
    ValueError when the event has no id yet.
    """
    if event.id is None:
        raise ValueError(f"event {event.title!r} has no id: store it before linking its .ics")
    base = (base_url if base_url is not None else get_settings().base_url).rstrip("/")
    return f"{base}/events/{event.id}.ics"


def calendar_links(
    event: Event, base_url: str | None = None, *, details: str | None = None
) -> CalendarLinks:
    """All add-to-calendar links of ``event`` (see :class:`CalendarLinks`)."""
    return CalendarLinks(
        google=google_calendar_url(event, details),
        outlook=outlook_calendar_url(event, details=details),
        office365=outlook_calendar_url(event, office365=True, details=details),
        ics=ics_download_url(event, base_url) if event.id is not None else None,
        yahoo=yahoo_calendar_url(event, details),
    )
