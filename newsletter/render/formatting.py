"""Small, pure formatting helpers shared by the HTML and the text templates.

Everything here is deterministic and locale-independent: day and month names
are spelt out in English here rather than taken from ``strftime``, whose
output follows the process locale (a worker started with ``LC_TIME=de_DE``
must still write "Mittwoch"-free English email).
"""

from __future__ import annotations

import re
import textwrap
from datetime import date, datetime
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from newsletter.content import UK_TIMEZONE, Event

UK = ZoneInfo(UK_TIMEZONE)

# Longest line of the plain-text part (RFC 5322 2.1.1 recommends 78).
TEXT_WIDTH = 78
# Preheaders longer than this are cut by most inboxes anyway; keep ours whole.
PREHEADER_LIMIT = 110

_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_SAFE_SCHEMES = frozenset({"http", "https"})
# A deliberately plain address pattern: no spaces, quotes, angle brackets or
# "?" can reach a mailto: URL, so a contact line cannot smuggle in headers.
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_SPACE = re.compile(r"\s+")


def squash(text: str) -> str:
    """Return ``text`` with every run of whitespace made one space, trimmed."""
    return _SPACE.sub(" ", text).strip()


def long_date(day: date) -> str:
    """Return e.g. "Wednesday 14 November 2018"."""
    return f"{_DAYS[day.weekday()]} {day.day} {_MONTHS[day.month - 1]} {day.year}"


def period_label(period: str | None) -> str | None:
    """Return "December 2018" for "2018-12"; None for None or anything malformed."""
    if not period or len(period) != 7 or period[4] != "-":
        return None
    year, month = period[:4], period[5:]
    if not (year.isdigit() and month.isdigit() and 1 <= int(month) <= 12):
        return None
    return f"{_MONTHS[int(month) - 1]} {year}"


def when_label(event: Event) -> str:
    """Return when ``event`` happens, in UK time and labelled so.

    Timed events: "Wednesday 14 November 2018, 10:00 (UK time)", with
    " to 12:30" or " to Thursday 15 November 2018, 16:00" when the end is
    known.  All-day events give the date(s) only, read in the event's own
    time zone (an all-day date is a calendar date, not an instant).
    """
    if event.all_day:
        zone = ZoneInfo(event.timezone)
        first = event.start.astimezone(zone).date()
        last = event.end.astimezone(zone).date() if event.end else first
        if last <= first:
            return long_date(first)
        return f"{long_date(first)} to {long_date(last)}"
    start = event.start.astimezone(UK)
    label = f"{long_date(start.date())}, {_clock(start)}"
    if event.end is not None and event.end > event.start:
        end = event.end.astimezone(UK)
        if end.date() == start.date():
            label += f" to {_clock(end)}"
        else:
            label += f" to {long_date(end.date())}, {_clock(end)}"
    return f"{label} (UK time)"


def _clock(moment: datetime) -> str:
    return f"{moment.hour:02d}:{moment.minute:02d}"


def truncate(text: str, limit: int = PREHEADER_LIMIT) -> str:
    """Return ``text`` squashed and, if longer than ``limit``, cut at a word with "…"."""
    text = squash(text)
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:.-–—") + "…"


def safe_url(url: str | None) -> str | None:
    """Return ``url`` if it is an absolute http(s) URL with a host, else None.

    Content is untrusted: a ``javascript:``, ``data:`` or relative link is
    dropped rather than rendered, so only http(s) (and the mailto: links
    built by :func:`mailto_href`) ever reach an ``href``.
    """
    if not url:
        return None
    url = url.strip()
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in _SAFE_SCHEMES or not parts.netloc:
        return None
    return url


def contact_address(contact: str) -> str | None:
    """Return the first plain e-mail address inside ``contact``, if any."""
    match = _EMAIL.search(contact)
    return match.group(0) if match else None


def mailto_href(address: str) -> str:
    """Return a mailto: URL for an address found by :func:`contact_address`."""
    return "mailto:" + quote(address, safe="@.+-_")


def wrap(text: str, indent: str = "", first: str | None = None, width: int = TEXT_WIDTH) -> str:
    """Wrap ``text`` (whitespace squashed) to ``width`` columns for the text part.

    ``first`` replaces ``indent`` on the first line (for "  * " bullets).
    Words are never broken, so a URL longer than a line stays whole on a line
    of its own: a broken URL would not work, an over-long line only looks odd.
    """
    lines = textwrap.wrap(
        squash(text),
        width=width,
        initial_indent=indent if first is None else first,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    )
    return "\n".join(lines)


def underline(text: str, char: str = "-") -> str:
    """Return ``text`` wrapped, with a line of ``char`` as long as its longest line."""
    wrapped = wrap(text)
    longest = max((len(line) for line in wrapped.splitlines()), default=0)
    return f"{wrapped}\n{char * longest}"
