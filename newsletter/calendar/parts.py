"""Calendar parts ready for message assembly, and the per-recipient ATTENDEE splice.

A :class:`~newsletter.parts.CalendarPart` is built once per event and method
with ``icalendar``.  An invitation (METHOD:REQUEST) must name its recipient as
ATTENDEE so that Outlook and Gmail offer accept/decline, but serialising with
``icalendar`` per recipient costs milliseconds; :func:`with_attendee` instead
inserts one pre-folded line before ``END:VEVENT`` with bytes operations
(a few microseconds per recipient).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from urllib.parse import quote

from newsletter.calendar.ics import build_calendar
from newsletter.content import Event
from newsletter.parts import CalendarPart

_END_VEVENT = b"\r\nEND:VEVENT\r\n"
_BEGIN_VALARM = b"\r\nBEGIN:VALARM\r\n"
_FOLD_LIMIT = 75  # octets per physical line, excluding CRLF (RFC 5545 §3.1)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# RFC 6068 §2: what may stay unencoded in the addr-spec of a mailto: URI.
_MAILTO_SAFE = "!$'()*+,;:@-._~"


def ics_filename(title: str) -> str:
    """Return ``<slug of title>.ics``: lower-case ASCII words joined by hyphens.

    Accents are dropped ("Café" → "cafe"), length is capped at 60 characters
    before the extension, and a title with no usable letters gives "event.ics".
    """
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")
    slug = slug[:60].rstrip("-")
    return f"{slug or 'event'}.ics"


def publish_part(
    event: Event,
    *,
    update_url: str | None = None,
    alarm_minutes: int | None = None,
    now: datetime | None = None,
) -> CalendarPart:
    """METHOD:PUBLISH copy of ``event`` for newsletters: no ATTENDEE, no RSVP.

    Raises ValueError as :func:`newsletter.calendar.build_calendar` does.
    """
    ics = build_calendar(
        [event], "PUBLISH", update_url=update_url, alarm_minutes=alarm_minutes, now=now
    )
    return CalendarPart(method="PUBLISH", filename=ics_filename(event.title), ics=ics)


def request_part(
    event: Event,
    *,
    update_url: str | None = None,
    alarm_minutes: int | None = None,
    now: datetime | None = None,
) -> CalendarPart:
    """METHOD:REQUEST template of an invitation, built once for all recipients.

    It has no ATTENDEE yet: pass it through :func:`with_attendee` per
    recipient.  An update re-sends a REQUEST with the same UID and the
    event's raised SEQUENCE (RFC 5546 §2.1.4).
    """
    ics = build_calendar(
        [event], "REQUEST", update_url=update_url, alarm_minutes=alarm_minutes, now=now
    )
    return CalendarPart(method="REQUEST", filename=ics_filename(event.title), ics=ics)


def cancel_part(
    event: Event, *, update_url: str | None = None, now: datetime | None = None
) -> CalendarPart:
    """METHOD:CANCEL with STATUS:CANCELLED, same UID, SEQUENCE as the event holds.

    The caller decides SEQUENCE; raising it as for any change is what Outlook
    does itself (MS-OXOCAL §3.1.5.4) and makes every client apply the cancel.
    :func:`with_attendee` may add the recipient for those who had a REQUEST.
    """
    ics = build_calendar([event], "CANCEL", update_url=update_url, now=now)
    return CalendarPart(method="CANCEL", filename=ics_filename(event.title), ics=ics)


def fold_line(line: bytes) -> bytes:
    """Fold one unfolded content line to physical lines of ≤ 75 octets, CRLF-ended.

    Continuation lines start with one space (RFC 5545 §3.1).  A fold never
    splits a UTF-8 sequence, nor an RFC 6868 ``^`` escape or a TEXT ``\\``
    escape (clients that unfold sloppily misread those: icalendar issue #1501).
    """
    if len(line) <= _FOLD_LIMIT:
        return line + b"\r\n"
    pieces: list[bytes] = []
    start = 0
    limit = _FOLD_LIMIT
    while len(line) - start > limit:
        cut = start + limit
        while cut > start + 1 and (line[cut] & 0xC0) == 0x80:  # UTF-8 continuation byte
            cut -= 1
        escapes = 0
        while cut - escapes - 1 > start and line[cut - escapes - 1] in b"^\\":
            escapes += 1
        if escapes % 2 == 1:
            cut -= 1
        pieces.append(line[start:cut])
        start = cut
        limit = _FOLD_LIMIT - 1  # the leading space counts
    pieces.append(line[start:])
    return b"\r\n ".join(pieces) + b"\r\n"


def attendee_line(email: str, name: str | None = None, *, rsvp: bool = True) -> bytes:
    """Return the folded ``ATTENDEE`` content line for one invitee.

    With ``rsvp`` (a REQUEST) the line asks for a reply:
    ``ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE``; without it (a
    CANCEL) only the role is given.

    ``CN`` is always quoted, with ``^`` and ``"`` escaped as RFC 6868 says;
    the address becomes a ``mailto:`` URI percent-encoded per RFC 6068.
    Raises ValueError when either value holds CR, LF or another control
    character (header and property injection), or the address has no ``@``.
    """
    if _CONTROL.search(email) or (name is not None and _CONTROL.search(name)):
        raise ValueError("attendee e-mail and name must not contain control characters")
    email = email.strip()
    local, at, domain = email.rpartition("@")
    if not at or not local or not domain or any(ch.isspace() for ch in email):
        raise ValueError(f"not an e-mail address: {email!r}")
    params = b""
    if name and name.strip():
        cn = name.strip().replace("^", "^^").replace('"', "^'")
        params = b';CN="' + cn.encode("utf-8") + b'"'
    params += b";ROLE=REQ-PARTICIPANT"
    if rsvp:
        params += b";PARTSTAT=NEEDS-ACTION;RSVP=TRUE"
    line = b"ATTENDEE" + params + b":mailto:" + quote(email, safe=_MAILTO_SAFE).encode("ascii")
    return fold_line(line)


def with_attendee(part: CalendarPart, email: str, name: str | None = None) -> CalendarPart:
    """Return a copy of a REQUEST or CANCEL ``part`` naming one recipient as ATTENDEE.

    The line goes after the VEVENT's last property (before its VALARM, or
    before ``END:VEVENT`` when there is none); nothing else changes, so the
    result is exactly what ``icalendar`` would have written with the
    attendee.  RFC 5546 §3.2.2 wants the invitee listed in a REQUEST (Outlook
    and Gmail show accept/decline only then) and §3.2.5 in a CANCEL.

    Raises ValueError for a PUBLISH part (RFC 5546 §3.2.1 forbids ATTENDEE),
    a part without exactly one VEVENT, a part that already has an ATTENDEE,
    or bad input (see :func:`attendee_line`).
    """
    if part.method not in ("REQUEST", "CANCEL"):
        raise ValueError(f"METHOD:{part.method} carries no ATTENDEE (RFC 5546 §3.2.1)")
    ics = part.ics
    at = ics.find(_END_VEVENT)
    if at < 0 or ics.find(_END_VEVENT, at + 1) >= 0:
        raise ValueError("calendar part must hold exactly one VEVENT")
    # A property line starts right after CRLF; folded continuations start with
    # a space, and TEXT values escape newlines, so this cannot match content.
    if ics.find(b"\r\nATTENDEE", 0, at) >= 0:
        raise ValueError("calendar part already names an attendee; use the template")
    # VEVENT properties must precede its VALARMs (RFC 5545 §3.6.1 grammar).
    alarm = ics.find(_BEGIN_VALARM, 0, at)
    if alarm >= 0:
        at = alarm
    at += 2  # keep the CRLF that ends the previous line
    return CalendarPart(
        method=part.method,
        filename=part.filename,
        ics=ics[:at] + attendee_line(email, name, rsvp=part.method == "REQUEST") + ics[at:],
    )
