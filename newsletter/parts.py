"""The parts a message is made of, as they pass from render and calendar to
message assembly.

Rendering (Jinja2 + premailer) runs once per (send, segment) and yields a
:class:`RenderedEdition` whose HTML and text still hold the per-recipient
:data:`PLACEHOLDERS`.  The calendar module yields :class:`CalendarPart` values
once per event.  ``newsletter.message`` assembles both into a message template
once, then splices each recipient's values in place of the placeholders.

Placeholders are plain ASCII words framed by ``%%`` so that they survive
Jinja2 autoescaping and premailer untouched and cannot occur in real content
by accident (ingest never produces ``%%NL_``).
"""

from __future__ import annotations

from dataclasses import dataclass

# Per-recipient values, spliced into both the HTML and the text part.
# GREETING: "Dear Jane Smith," or "Hello," when the name is unknown.
GREETING = "%%NL_GREETING%%"
# Signed, purpose-bound URL that unsubscribes in one click (RFC 8058 target too).
UNSUBSCRIBE_URL = "%%NL_UNSUBSCRIBE_URL%%"
# Signed URL of the subscriber's preferences page.
PREFERENCES_URL = "%%NL_PREFERENCES_URL%%"

PLACEHOLDERS = (GREETING, UNSUBSCRIBE_URL, PREFERENCES_URL)


@dataclass(frozen=True)
class RenderedEdition:
    """One update rendered for one segment, before personalisation.

    ``html`` has its CSS inlined and still contains the placeholders;
    ``text`` is the plain-text twin with the same placeholders.
    """

    update_id: int | None
    segment: str
    segment_name: str
    subject: str
    preheader: str
    html: str
    text: str


@dataclass(frozen=True)
class CalendarPart:
    """An iCalendar object ready to attach.

    ``method`` is the METHOD line's value (PUBLISH, REQUEST or CANCEL) and
    goes into the ``text/calendar; method=…`` parameter; ``filename`` names
    the ``application/ics`` attachment; ``ics`` is the serialised VCALENDAR
    (CRLF line endings, folded at 75 octets).

    For METHOD:REQUEST the ATTENDEE is per recipient: the calendar module
    builds the part once without it and ``newsletter.calendar.with_attendee``
    adds the recipient's ATTENDEE line cheaply (no re-serialisation).
    """

    method: str
    filename: str
    ics: bytes
