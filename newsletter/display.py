"""How numbers and times are written for people: plurals and UK local times.

Everything is stored in UTC; organisers think in UK time.  The console and
the CLI show absolute times as "Wed 20 Oct 2027, 09:00 UK" (the local zone of
``settings.timezone``, named), and counts with the right plural
("1 active subscriber", "3 active subscribers").
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from newsletter.config import get_settings

# The zone's short name shown after a time; the product is for UK networks.
ZONE_LABEL = "UK"


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """``count`` and the noun that agrees with it: "1 subscriber", "2 subscribers"."""
    noun = singular if count == 1 else (plural_form or _plural_of(singular))
    return f"{count:,} {noun}"


def _plural_of(word: str) -> str:
    """The regular English plural of the last word of ``word`` ("active subscriber" …)."""
    head, _, last = word.rpartition(" ")
    if last.endswith(("s", "x", "ch", "sh")):
        last += "es"
    elif last.endswith("y") and last[-2:-1] not in ("a", "e", "i", "o", "u"):
        last = last[:-1] + "ies"
    else:
        last += "s"
    return f"{head} {last}" if head else last


def local_zone() -> ZoneInfo:
    """The organisers' time zone (``settings.timezone``, Europe/London by default)."""
    return ZoneInfo(get_settings().timezone)


def local(value: datetime) -> datetime:
    """``value`` (aware) in the organisers' zone."""
    return value.astimezone(local_zone())


def uk_time(value: datetime | None, *, empty: str = "") -> str:
    """An absolute time for people: "Wed 20 Oct 2027, 09:00 UK" (``empty`` for None)."""
    if value is None:
        return empty
    when = local(value)
    return f"{when:%a} {when.day} {when:%b %Y, %H:%M} {ZONE_LABEL}"


def uk_time_seconds(value: datetime | None, *, empty: str = "") -> str:
    """As :func:`uk_time` with seconds, for attempts and events within a send."""
    if value is None:
        return empty
    when = local(value)
    return f"{when:%a} {when.day} {when:%b %Y, %H:%M:%S} {ZONE_LABEL}"


def uk_time_iso(text: str | None, *, empty: str = "") -> str:
    """:func:`uk_time` of an ISO 8601 string, as the documented JSON carries times."""
    return uk_time(datetime.fromisoformat(text), empty=empty) if text else empty


def form_value(value: datetime | None) -> str:
    """``value`` as an ``<input type="datetime-local">`` value in UK time ("2027-10-20T09:00")."""
    if value is None:
        return ""
    return f"{local(value):%Y-%m-%dT%H:%M}"
