"""Build VCALENDAR objects for events with the ``icalendar`` package.

One function, :func:`build_calendar`, serves every use: the PUBLISH copy a
newsletter attaches, the REQUEST template of an invitation (the recipient's
ATTENDEE line is spliced in later by :func:`newsletter.calendar.with_attendee`),
the CANCEL of a cancellation, and — through :func:`feed` — a subscribable
per-segment feed.

Output contract (RFC 5545 §3.1, §3.4–§3.8; RFC 5546 §3.2):
* CRLF line endings, every physical line at most 75 octets (``icalendar``
  folds by octets and never inside a UTF-8 sequence);
* VERSION:2.0, PRODID, METHOD; the rule-based Europe/London VTIMEZONE;
* per VEVENT: UID (the stored ``Event.uid``), DTSTAMP in UTC, DTSTART/DTEND
  with TZID=Europe/London (or VALUE=DATE with an exclusive DTEND), SUMMARY,
  LOCATION, DESCRIPTION, URL, ORGANIZER, SEQUENCE, STATUS, optional VALARM;
* never an ATTENDEE: PUBLISH must not carry one (RFC 5546 §3.2.1) and a
  REQUEST gets one per recipient afterwards.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr

from icalendar import Alarm, Calendar, vCalAddress, vDuration
from icalendar import Event as VEvent

from newsletter.calendar.times import LONDON, all_day_span, timed_span
from newsletter.calendar.vtimezone import LONDON_TZID, london_vtimezone
from newsletter.config import get_settings
from newsletter.content import Event

PRODID = "-//Regional Children's Services Network//Newsletter 0.1//EN"
METHODS = frozenset({"PUBLISH", "REQUEST", "CANCEL"})
# How often a subscribed feed should be re-read (RFC 7986 §5.7; Outlook reads
# the older X-PUBLISHED-TTL instead).
FEED_REFRESH = timedelta(hours=12)


def describe(event: Event, update_url: str | None = None) -> str:
    """Return the plain-text description of an event, from its structured fields only.

    A cancellation note, the place, the event's own link, then the link to the
    update.  It never repeats the date or time: calendars show DTSTART, and a
    date written into the text would go stale when the event moves.  The
    sentence the event was found in (``Event.source``) is never used, for the
    same reason.  Never empty: falls back to the title.
    """
    lines: list[str] = []
    if event.cancelled:
        lines.append("This event has been cancelled.")
    if event.location:
        lines.append(f"Where: {event.location}")
    if event.url:
        lines.append(f"More information: {event.url}")
    if update_url:
        lines.append(f"Read the update: {update_url}")
    return "\n\n".join(lines) or event.title


def build_calendar(
    events: Sequence[Event],
    method: str,
    *,
    update_url: str | None = None,
    alarm_minutes: int | None = None,
    now: datetime | None = None,
) -> bytes:
    """Serialise ``events`` as one VCALENDAR with ``METHOD:method``.

    ``method`` is PUBLISH, REQUEST or CANCEL.  An iTIP REQUEST or CANCEL
    schedules one event (RFC 5546 §3.2.2, §3.2.5; clients act on the first
    VEVENT only), so it takes exactly one event; PUBLISH takes any number
    (none gives an empty feed).  ``update_url`` is
    linked from DESCRIPTION (and is the URL when the event has none).
    ``alarm_minutes`` adds a DISPLAY VALARM that many minutes before the start
    (not to CANCEL).  ``now`` is the DTSTAMP (default: the current time).

    Raises ValueError for an unknown method, a wrong number of events, an
    event without a UID, an end before its start, a naive ``now`` or a
    negative alarm.
    """
    method = method.upper()
    if method not in METHODS:
        raise ValueError(f"unknown iTIP method {method!r}; expected one of {sorted(METHODS)}")
    if method != "PUBLISH" and len(events) != 1:
        raise ValueError(f"METHOD:{method} carries exactly one event, got {len(events)}")
    calendar = _calendar(method)
    stamp = _stamp(now)
    for event in events:
        calendar.add_component(
            _vevent(
                event,
                method,
                stamp=stamp,
                update_url=update_url,
                alarm_minutes=None if method == "CANCEL" else alarm_minutes,
            )
        )
    return _serialise(calendar)


def feed(events: Sequence[Event], name: str, *, now: datetime | None = None) -> bytes:
    """Serialise a subscribable METHOD:PUBLISH feed of ``events`` called ``name``.

    The same UIDs and SEQUENCEs as the invitations, so a client that has an
    event from an email and from the feed shows it once.  Cancelled events
    stay in the feed with STATUS:CANCELLED until the caller drops them.
    Raises ValueError as :func:`build_calendar` does, or for a name with
    control characters.
    """
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in name):
        raise ValueError("calendar name must not contain control characters")
    calendar = _calendar("PUBLISH")
    # X-WR-CALNAME/X-WR-TIMEZONE: Apple, Google and Outlook; NAME: RFC 7986 §5.1.
    calendar.add("x-wr-calname", name)
    calendar.add("name", name)
    calendar.add("x-wr-timezone", LONDON_TZID)
    calendar.add("refresh-interval", FEED_REFRESH, parameters={"VALUE": "DURATION"})
    # An X- property is TEXT to icalendar, which would write the timedelta as
    # "12:00:00"; Outlook expects the RFC 5545 duration form.
    calendar.add("x-published-ttl", _duration(FEED_REFRESH))
    stamp = _stamp(now)
    for event in events:
        calendar.add_component(
            _vevent(event, "PUBLISH", stamp=stamp, update_url=None, alarm_minutes=None)
        )
    return _serialise(calendar)


def _duration(value: timedelta) -> str:
    """RFC 5545 §3.3.6 text of a duration ("PT12H")."""
    text: bytes = vDuration(value).to_ical()  # type: ignore[no-untyped-call]
    return text.decode("ascii")


def _serialise(calendar: Calendar) -> bytes:
    ics = calendar.to_ical()
    assert isinstance(ics, bytes)  # icalendar's to_ical is typed loosely
    return ics


def _stamp(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC).replace(microsecond=0)
    if now.tzinfo is None:
        raise ValueError("now must carry a time zone")
    return now.astimezone(UTC).replace(microsecond=0)


def _calendar(method: str) -> Calendar:
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", method)
    # Always present, even for all-day-only calendars: harmless when unused and
    # it keeps an empty feed a valid calendar (RFC 5545 §3.6 needs a component).
    calendar.add_component(london_vtimezone())
    return calendar


def _vevent(
    event: Event,
    method: str,
    *,
    stamp: datetime,
    update_url: str | None,
    alarm_minutes: int | None,
) -> VEvent:
    if not event.uid:
        raise ValueError(f"event {event.title!r} has no UID: store it before building a calendar")
    vevent = VEvent()
    vevent.add("uid", event.uid)
    vevent.add("dtstamp", stamp)
    if event.all_day:
        first, after_last = all_day_span(event)
        vevent.add("dtstart", first)  # icalendar writes VALUE=DATE for a date
        vevent.add("dtend", after_last)
        # All-day announcements should not block the day as busy.
        vevent.add("transp", "TRANSPARENT")
    else:
        start, end = timed_span(event)
        # Written as London wall-clock time with TZID rather than UTC: clients
        # then keep the event at 10:00 if the organiser's zone is what matters,
        # and Outlook shows the zone name.  The instant is the same.
        for name, instant in (("dtstart", start), ("dtend", end)):
            local = instant.astimezone(LONDON)
            if _repeated(local):
                # 01:00-02:00 on the October change night happens twice: RFC
                # 5545 §3.3.5 says readers take the first, ical.js takes the
                # second.  UTC is unambiguous, and DTEND may differ in zone.
                vevent.add(name, instant)
            else:
                vevent.add(name, local.replace(tzinfo=None), parameters={"TZID": LONDON_TZID})
        vevent.add("transp", "OPAQUE")
    vevent.add("summary", event.title)
    if event.location:
        vevent.add("location", event.location)
    vevent.add("description", describe(event, update_url))
    url = event.url or update_url
    if url:
        vevent.add("url", url)
    vevent.add("organizer", _organizer())
    vevent.add("sequence", event.sequence)
    cancelled = method == "CANCEL" or event.cancelled
    vevent.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    if alarm_minutes is not None:
        vevent.add_component(_alarm(event, alarm_minutes))
    return vevent


def _repeated(local: datetime) -> bool:
    """Whether this wall-clock time occurs twice (the hour the clocks go back)."""
    return local.replace(fold=0).utcoffset() != local.replace(fold=1).utcoffset()


def _organizer() -> vCalAddress:
    """ORGANIZER from the From address: replies to a REQUEST go there (RFC 5546 §3.2.3)."""
    name, address = parseaddr(get_settings().from_address)
    if not address or "@" not in address:
        raise ValueError("settings.from_address has no e-mail address for ORGANIZER")
    organizer = vCalAddress(f"mailto:{address}")
    if name:
        organizer.params["CN"] = name
    return organizer


def _alarm(event: Event, minutes: int) -> Alarm:
    if minutes < 0:
        raise ValueError("alarm_minutes must not be negative")
    alarm = Alarm()
    alarm.add("action", "DISPLAY")
    # DESCRIPTION is required with ACTION:DISPLAY (RFC 5545 §3.6.6).
    alarm.add("description", event.title)
    alarm.add("trigger", timedelta(minutes=-minutes))
    return alarm
