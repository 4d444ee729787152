"""The Europe/London VTIMEZONE, written by hand as recurrence rules.

Why not ``icalendar``'s generated block: it lists every historical transition
as RDATEs/separate observances, and Thunderbird's ical.js picks the wrong
observance for some ranges, showing summer events an hour out.  Two rules —
the UK has changed its clocks on the last Sunday of March and of October at
01:00 UTC since 1996 — are what Outlook, Google and Apple generate themselves
and what every client reads right (RFC 5545 §3.6.5, §3.8.3).

DTSTART of each observance is the first onset in *local time before the
change* (RFC 5545 §3.8.3.1 note): 01:00 GMT in March, 02:00 BST in October,
both 01:00 UTC.  The 1970 start matches the block Thunderbird itself ships;
the rules are only true from 1996, which is irrelevant for announced events.
"""

from __future__ import annotations

from icalendar import Timezone

LONDON_TZID = "Europe/London"

_LONDON_VTIMEZONE = (
    "BEGIN:VTIMEZONE\r\n"
    "TZID:Europe/London\r\n"
    "X-LIC-LOCATION:Europe/London\r\n"
    "BEGIN:DAYLIGHT\r\n"
    "TZOFFSETFROM:+0000\r\n"
    "TZOFFSETTO:+0100\r\n"
    "TZNAME:BST\r\n"
    "DTSTART:19700329T010000\r\n"
    "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\n"
    "END:DAYLIGHT\r\n"
    "BEGIN:STANDARD\r\n"
    "TZOFFSETFROM:+0100\r\n"
    "TZOFFSETTO:+0000\r\n"
    "TZNAME:GMT\r\n"
    "DTSTART:19701025T020000\r\n"
    "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\n"
    "END:STANDARD\r\n"
    "END:VTIMEZONE\r\n"
)


def london_vtimezone() -> Timezone:
    """Return a fresh rule-based Europe/London VTIMEZONE component."""
    component = Timezone.from_ical(_LONDON_VTIMEZONE)
    assert isinstance(component, Timezone)  # one block in, one component out
    return component
