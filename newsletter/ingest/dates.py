"""Dates and times as the updates write them, turned into aware datetimes.

Everything here is local UK time (Europe/London): the network meets in the
North East, and the site prints wall-clock times without an offset.

Year inference (:func:`resolve_year`): a date written without a year is put
in the twelve-month window that starts :data:`ROLL_FORWARD_MONTHS` months
before the period's first month — a September 2019 update's "5 March" is March 2020
(coming), its "5 July" July 2019 (just gone), and a January 2020 update's
"14 October" is October 2019 (three months back, not nine ahead).  When the
text names a weekday we prefer the nearby year on which that date falls on
that weekday.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from newsletter.content import UK_TIMEZONE
from newsletter.ingest.periods import MONTH_PATTERN, MONTHS, months_between

UK = ZoneInfo(UK_TIMEZONE)

#: How many months before the period month a yearless date may fall; later
#: months are ahead (see the module docstring).
ROLL_FORWARD_MONTHS = 3

WEEKDAYS: dict[str, int] = {
    name: number
    for number, names in enumerate(
        (
            ("monday", "mon"),
            ("tuesday", "tue", "tues"),
            ("wednesday", "wed"),
            ("thursday", "thu", "thur", "thurs"),
            ("friday", "fri"),
            ("saturday", "sat"),
            ("sunday", "sun"),
        )
    )
    for name in names
}
WEEKDAY_PATTERN = (
    r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday"
    r"|Mon|Tues|Tue|Wed|Thurs|Thur|Thu|Fri|Sat|Sun)\.?"
)

# "10am", "2.30pm", "10:00", "noon", "midnight".  A bare "10" or a dotted "9.30" only
# counts as the first half of a range whose second half is a clear time
# ("2-4pm", "9.30-3.30pm", "09.30 to 16.00"), and a dotted "16.00" only as
# the second half: alone they are as likely money or a section number.
CLOCK_PATTERN = (
    r"(?:\d{1,2}(?:[:.]\d{2})?\s*(?:[ap]\.?m\.?)(?![\w])|\d{1,2}:\d{2}(?!\d)|noon|midday"
    r"|midnight)"
)
_RANGE_SEP = r"\s*(?:-|–|—|to|until|till|and)\s*"
_CLEAR_END = r"(?:\d{1,2}(?:[:.]\d{2})?\s*[ap]\.?m|\d{1,2}[:.]\d{2}(?!\d)|noon|midday|midnight)"
TIME_RE = re.compile(
    rf"(?i:(?<![\w.:£$/])(?:from\s+|between\s+)?(?P<t1>{CLOCK_PATTERN}|\d{{1,2}}(?:\.\d{{2}})?(?={_RANGE_SEP}{_CLEAR_END}))"
    rf"(?:{_RANGE_SEP}(?P<t2>{CLOCK_PATTERN}|\d{{1,2}}\.\d{{2}}(?!\d)))?)"
)
_CLOCK_PARTS = re.compile(r"(?i)^(\d{1,2})(?:[:.](\d{2}))?\s*(?:([ap])\.?m\.?)?$")

#: The site's featured-event stamp: "Wed, 14 Nov 18 10:00", optionally with an
#: end ("– 12:00" or "- Thu, 15 Nov 18 16:00"); the time may be absent.
FEATURED_RE = re.compile(
    rf"^(?:(?P<wd>{WEEKDAY_PATTERN}),?\s+)?(?P<day>\d{{1,2}})(?:st|nd|rd|th)?\s+"
    rf"(?P<month>{MONTH_PATTERN}),?\s+(?P<year>\d{{4}}|\d{{2}})"
    rf"(?:,?\s+(?P<time>\d{{1,2}}[:.]\d{{2}}(?:\s*[ap]m)?|\d{{1,2}}\s*[ap]m))?"
    rf"(?:\s*(?:-|–|—|to)\s*(?P<end>.+))?$",
    re.IGNORECASE,
)


def parse_clock(text: str, *, pm_hint: bool = False) -> time | None:
    """Parse "10am", "2.30pm", "14:00", "noon"; None when it is not a valid time.

    ``pm_hint`` makes an am/pm-less hour 1–11 afternoon — the "2" of "2-4pm".
    """
    cleaned = text.strip().lower()
    if cleaned in ("noon", "midday"):
        return time(12, 0)
    if cleaned == "midnight":
        return time(0, 0)
    m = _CLOCK_PARTS.match(cleaned)
    if m is None:
        return None
    hour, minute = int(m.group(1)), int(m.group(2) or 0)
    meridiem = m.group(3) or ("p" if pm_hint and 1 <= hour < 12 else None)
    if meridiem is not None:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if meridiem == "p" else 0)
    if hour > 23 or minute > 59:
        return None
    return time(hour, minute)


#: An evening start (from this hour) with a morning end (before noon) runs
#: overnight: "8pm–7am", "10pm to midnight".
OVERNIGHT_FROM = 17


def overnight(start: time, end: time) -> bool:
    """True when ``end`` is on the next day: an evening start and an earlier morning end."""
    return end <= start and start.hour >= OVERNIGHT_FROM and end.hour < 12


def time_range(match: re.Match[str]) -> tuple[time, time | None] | None:
    """The start and end times of a :data:`TIME_RE` match; None when invalid.

    An end not after the start is dropped unless the range runs overnight
    (:func:`overnight`); the caller puts such an end on the next day.
    """
    second = match.group("t2")
    end = parse_clock(second) if second else None
    start = parse_clock(match.group("t1"))
    # "2-4pm" is 14:00-16:00 but "10-12pm" is 10:00-12:00: borrow the end's
    # "pm" only when that keeps the start before the end.
    afternoon = parse_clock(match.group("t1"), pm_hint=True)
    if end is not None and afternoon is not None and afternoon < end:
        start = afternoon
    if start is None:
        return None
    if end is not None and end <= start and not overnight(start, end):
        end = None
    return start, end


def resolve_year(
    month: int, day: int, period: str | None, weekday: int | None, period_end: str | None = None
) -> int | None:
    """The year of a yearless date, from the update's period range; None without a period.

    The date goes in the twelve months that start :data:`ROLL_FORWARD_MONTHS`
    before the period (fewer when the period is longer than nine months, so
    that a financial year's own months all count as inside it).
    """
    if period is None:
        return None
    span = months_between(period, period_end or period)
    back = min(ROLL_FORWARD_MONTHS, max(0, 12 - span))
    first = int(period[:4]) * 12 + int(period[5:7]) - 1 - back
    window_year, window_month = divmod(first, 12)
    base = window_year if month >= window_month + 1 else window_year + 1
    if weekday is not None:
        for candidate in (base, base + 1, base - 1):
            if valid_date(candidate, month, day) and date(candidate, month, day).weekday() == (
                weekday
            ):
                return candidate
    return base


def valid_date(year: int, month: int, day: int) -> bool:
    """True when year-month-day is a real calendar date."""
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True


def local(day: date, at: time | None = None) -> datetime:
    """The aware UK datetime of ``day`` at ``at`` (local midnight when None)."""
    return datetime.combine(day, at or time(0, 0), tzinfo=UK)


def month_number(name: str) -> int:
    """The month number of a (possibly abbreviated, dotted) month name."""
    return MONTHS[name.rstrip(".").lower()]


def weekday_number(name: str | None) -> int | None:
    """Monday=0 … Sunday=6 for a weekday name, or None."""
    return None if name is None else WEEKDAYS.get(name.rstrip(".").lower())


def parse_featured(text: str) -> tuple[datetime, datetime | None, bool] | None:
    """Parse a featured-event stamp into (start, end, all_day); None if it is not one.

    Two-digit years are 20xx ("Wed, 14 Nov 18" is 2018).  Without a time the
    event is all-day, starting at local midnight.
    """
    m = FEATURED_RE.match(" ".join(text.split()))
    if m is None:
        return None
    year = int(m.group("year"))
    year += 2000 if year < 100 else 0
    month, day = month_number(m.group("month")), int(m.group("day"))
    if not valid_date(year, month, day):
        return None
    the_day = date(year, month, day)
    if m.group("time") is None:
        return local(the_day), None, True
    start_time = parse_clock(m.group("time"))
    if start_time is None:
        return None
    start = local(the_day, start_time)
    end: datetime | None = None
    if m.group("end"):
        end_text = m.group("end")
        end_time = parse_clock(end_text)
        if end_time is not None:
            end = local(the_day, end_time)
            if overnight(start_time, end_time):
                end = local(the_day + timedelta(days=1), end_time)
        else:
            other = parse_featured(end_text)
            end = other[0] if other is not None and not other[2] else None
    if end is not None and end <= start:
        end = None
    return start, end, False
