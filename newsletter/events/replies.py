"""Attendees' answers to invitations: iTIP REPLY messages in, counts and lists out.

An invitation (METHOD:REQUEST, ``RSVP=TRUE``) makes Outlook, Gmail and Apple
Calendar send a METHOD:REPLY to the ORGANIZER address when the person
answers.  Those messages reach the same mailbox as bounces, so the bounce
intake hands every message that carries a ``text/calendar`` REPLY (as a part
of a multipart message or as a bare ``.ics`` attachment) to
:func:`read_reply` and :func:`record_reply`.

A reply is matched to an event by its UID and to a subscriber by its
ATTENDEE address, and only to someone the event was sent to, and only when
the message comes from that address (its From, or the ATTENDEE's SENT-BY
for a delegate), so nobody answers for someone else by naming them; anything else
raises :class:`ReplyRejected` with the reason, and the intake keeps the
message aside.  The latest answer by DTSTAMP wins (RFC 5546 §2.1.5).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.message import Message
from typing import Any

from icalendar import Calendar
from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.errors import UserError
from newsletter.events.queries import find_by_uid, get_event
from newsletter.models import EventRecipient, EventReply, Subscriber, utcnow

# iTIP PARTSTAT values an organiser records, and the words shown for them.
PARTSTATS = {"ACCEPTED": "accepted", "TENTATIVE": "tentative", "DECLINED": "declined"}
_CALENDAR_TYPES = ("text/calendar", "application/ics", "text/x-vcalendar")
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class ReplyRejected(UserError):  # noqa: N818 (read as "the reply was rejected: reason")
    """A REPLY that cannot be recorded; ``reason`` is short, ``detail`` says more."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Reply:
    """One attendee's answer read from a METHOD:REPLY calendar."""

    uid: str
    attendee: str
    partstat: str
    stamp: datetime
    sequence: int
    comment: str
    client: str
    sent_by: str | None = None  # the ATTENDEE's SENT-BY address (a delegate), if any


@dataclass(frozen=True)
class RecordedReply:
    """What :func:`record_reply` did: the event, the subscriber, the status, whether new."""

    event_id: int
    subscriber_id: int
    email: str
    status: str
    changed: bool


def calendar_parts(message: Message) -> Iterator[bytes]:
    """Yield the raw iCalendar payloads of ``message``, not those of attached messages.

    A ``text/calendar`` part (inline or attachment), an ``application/ics``
    part, or any attachment named ``*.ics``.  Messages attached as
    ``message/rfc822`` (a bounce quoting our invitation) are not entered.
    """
    stack = [message]
    while stack:
        part = stack.pop(0)
        if part.is_multipart():
            if part.get_content_maintype() == "message":
                continue
            payload = part.get_payload()
            if isinstance(payload, list):
                stack = [p for p in payload if isinstance(p, Message)] + stack
            continue
        filename = (part.get_filename() or "").lower()
        if part.get_content_type() in _CALENDAR_TYPES or filename.endswith(".ics"):
            data = part.get_payload(decode=True)
            if isinstance(data, bytes) and data.strip():
                yield data


def find_reply_calendar(message: Message) -> bytes | None:
    """The first calendar payload of ``message`` whose METHOD is REPLY, or None."""
    for data in calendar_parts(message):
        unfolded = data.upper().replace(b"\r\n ", b"").replace(b"\n ", b"")
        if b"\nMETHOD:REPLY" in b"\n" + unfolded.replace(b"\r\n", b"\n"):
            return data
    return None


def parse_reply(data: bytes) -> Reply:
    """Read the one attendee's answer from a METHOD:REPLY calendar.

    Raises ReplyRejected for an unreadable calendar, another METHOD, no VEVENT,
    no UID, not exactly one ATTENDEE (RFC 5546 §3.2.3) or a PARTSTAT other
    than ACCEPTED, TENTATIVE or DECLINED.
    """
    try:
        calendar = Calendar.from_ical(data)
    except (ValueError, IndexError, KeyError) as exc:
        raise ReplyRejected("unreadable calendar reply", str(exc)[:300]) from None
    method = str(calendar.get("METHOD", "")).upper()
    if method != "REPLY":
        raise ReplyRejected("not a calendar reply", f"METHOD:{method or '(none)'}")
    events = [c for c in calendar.walk("VEVENT")]
    if not events:
        raise ReplyRejected("calendar reply without an event", "no VEVENT")
    vevent = events[0]
    uid = str(vevent.get("UID", "")).strip()
    if not uid:
        raise ReplyRejected("calendar reply without a UID")
    attendees = vevent.get("ATTENDEE")
    listed = attendees if isinstance(attendees, list) else [attendees] if attendees else []
    if len(listed) != 1:
        raise ReplyRejected(
            "calendar reply must name exactly one attendee", f"{len(listed)} ATTENDEE lines"
        )
    attendee = listed[0]
    address = _without_mailto(str(attendee))
    sent_by = attendee.params.get("SENT-BY")
    partstat = str(attendee.params.get("PARTSTAT", "")).upper()
    if partstat not in PARTSTATS:
        raise ReplyRejected("unsupported reply status", f"PARTSTAT={partstat or '(none)'}")
    stamp = _utc(vevent.decoded("DTSTAMP")) if vevent.get("DTSTAMP") else utcnow()
    try:
        sequence = int(vevent.get("SEQUENCE", 0))
    except (TypeError, ValueError):
        sequence = 0
    return Reply(
        uid=uid,
        attendee=address.strip(),
        partstat=partstat,
        stamp=stamp,
        sequence=sequence,
        comment=str(vevent.get("COMMENT", "")).strip()[:2000],
        client=str(calendar.get("PRODID", ""))[:300],
        sent_by=_without_mailto(str(sent_by)) if sent_by else None,
    )


def _without_mailto(address: str) -> str:
    address = address.strip()
    return address[7:].strip() if address.lower().startswith("mailto:") else address


def _utc(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return utcnow()


def record_reply(
    session: Session, reply: Reply, *, sender: str, now: datetime | None = None
) -> RecordedReply:
    """Match ``reply`` to an event and a subscriber and keep the latest answer.

    ``sender`` is the address the message came from (its From).  Raises
    ReplyRejected (nothing stored) when ``sender`` is neither the ATTENDEE nor
    its SENT-BY delegate, for an unknown UID, an address that is no
    subscriber's, or a subscriber the event was never sent to.  ``changed`` is
    False when an answer at least as recent was already kept.
    """
    allowed = {reply.attendee.lower(), (reply.sent_by or reply.attendee).lower()}
    if sender.strip().lower() not in allowed:
        raise ReplyRejected(
            "reply sent by someone other than the attendee",
            f"From {sender or '(none)'}, ATTENDEE {reply.attendee}",
        )
    record = find_by_uid(session, reply.uid)
    if record is None:
        raise ReplyRejected("reply to an unknown event", f"UID {reply.uid}")
    key = reply.attendee.lower()
    subscriber = session.scalars(select(Subscriber).where(Subscriber.email_key == key)).first()
    if subscriber is None:
        raise ReplyRejected("reply from an unknown address", f"ATTENDEE {reply.attendee}")
    got_it = session.get(EventRecipient, (record.id, subscriber.id))
    if got_it is None:
        raise ReplyRejected(
            "reply from someone the event was not sent to",
            f"{reply.attendee} for event {record.id}",
        )
    status = PARTSTATS[reply.partstat]
    row = session.get(EventReply, (record.id, subscriber.id))
    received = now or utcnow()
    if row is not None and row.replied_at >= reply.stamp:
        return RecordedReply(record.id, subscriber.id, subscriber.email, row.status, False)
    if row is None:
        row = EventReply(event_id=record.id, subscriber_id=subscriber.id)
        session.add(row)
    row.status = status
    row.replied_at = reply.stamp
    row.received_at = received
    row.comment = reply.comment
    row.client = reply.client
    session.flush()
    return RecordedReply(record.id, subscriber.id, subscriber.email, status, True)


# --- what organisers see -----------------------------------------------------------


@dataclass(frozen=True)
class Attendee:
    """One person who has the event, with their answer (``status`` "no reply" if none)."""

    subscriber_id: int
    name: str
    email: str
    organisation: str
    status: str
    replied_at: datetime | None
    comment: str

    def to_json(self) -> dict[str, Any]:
        """The documented JSON object of one attendee."""
        return {
            "subscriber_id": self.subscriber_id,
            "name": self.name,
            "email": self.email,
            "organisation": self.organisation,
            "status": self.status,
            "replied_at": self.replied_at.isoformat() if self.replied_at else None,
            "comment": self.comment,
        }


STATUS_ORDER = ("accepted", "tentative", "declined", "no reply")


def attendees(session: Session, event_id: int) -> list[Attendee]:
    """Everyone the event was sent to, with their answer; by answer, then name.

    Raises EventNotFoundError for an unknown id.
    """
    get_event(session, event_id)
    rows = session.execute(
        select(Subscriber, EventReply)
        .join(EventRecipient, EventRecipient.subscriber_id == Subscriber.id)
        .outerjoin(
            EventReply,
            (EventReply.subscriber_id == Subscriber.id) & (EventReply.event_id == event_id),
        )
        .where(EventRecipient.event_id == event_id)
    ).all()
    found = [
        Attendee(
            subscriber_id=s.id,
            name=s.name,
            email=s.email,
            organisation=s.organisation,
            status=r.status if r is not None else "no reply",
            replied_at=r.replied_at if r is not None else None,
            comment=r.comment if r is not None else "",
        )
        for s, r in rows
    ]
    return sorted(found, key=lambda a: (STATUS_ORDER.index(a.status), a.name.lower(), a.email))


def counts(people: list[Attendee]) -> dict[str, int]:
    """How many of ``people`` gave each answer, every status named (0 included)."""
    tally = dict.fromkeys(STATUS_ORDER, 0)
    for person in people:
        tally[person.status] += 1
    return tally


def _cell(value: str) -> str:
    # A leading apostrophe makes Excel, LibreOffice and Google Sheets show the
    # text as typed instead of running it (OWASP "CSV injection").
    return "'" + value if value.startswith(_FORMULA_START) else value


def attendees_csv(people: list[Attendee]) -> str:
    """The attendee list as CSV (header row first), safe to open in a spreadsheet."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["name", "email", "organisation", "status", "replied_at", "comment"])
    for p in people:
        replied = p.replied_at.isoformat() if p.replied_at else ""
        writer.writerow(
            [_cell(v) for v in (p.name, p.email, p.organisation, p.status, replied, p.comment)]
        )
    return out.getvalue()
