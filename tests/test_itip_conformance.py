"""RFC 5546 (iTIP) and RFC 5545 conformance of every calendar the product emits.

The calendars come from the product's own paths, never hand-built: a
newsletter's PUBLISH attachment, an invitation's REQUEST, an update's REQUEST
(to invitees) and PUBLISH (to newsletter readers), a cancellation's CANCEL,
a test copy, the ``.ics`` download and the subscribable feeds.  Each is read
by two independent parsers, Mozilla's ical.js (as jCal) and ``icalendar``, and
checked against the MUSTs of RFC 5546 §3.2 for its method:

* every VCALENDAR: VERSION 2.0, PRODID, METHOD (§3.1 / RFC 5545 §3.7);
* every VEVENT: exactly one UID, DTSTAMP in UTC (RFC 5545 §3.8.7.2), ORGANIZER;
  SEQUENCE present (it MUST be when non-zero); never DTEND and DURATION both;
* PUBLISH (§3.2.1): DTSTART and SUMMARY, no ATTENDEE;
* REQUEST (§3.2.2): DTSTART, SUMMARY, at least one ATTENDEE (the recipient);
* CANCEL (§3.2.5): the ATTENDEEs it goes to (all of them when the whole event
  is cancelled: per message, the recipient), SEQUENCE, STATUS:CANCELLED;
* the same UID's SEQUENCE never goes down from one message to the next;
* feeds: REFRESH-INTERVAL;VALUE=DURATION:PT12H and X-PUBLISHED-TTL:PT12H.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import icalendar
from fastapi.testclient import TestClient
from sqlalchemy import select
from web_fixtures import (
    add_subscribers,
    app,
    client,
    send_now,
    store_update,
    transport,
)

from newsletter.db import session_scope
from newsletter.dispatch.control import start_if_due
from newsletter.dispatch.embedded import run_until_idle
from newsletter.events.changes import cancel_event, edit_event
from newsletter.models import EventRecord
from newsletter.sends import create_send
from newsletter.single_message import send_test_copy
from newsletter.transports.memory import InMemoryTransport

__all__ = ["app", "client", "transport"]  # fixtures

JS_DIR = Path(__file__).resolve().parent / "js"
TWO_EVENTS = """---
title: Conformance update
period: 2030-01
events:
  - title: Regional DCS meeting
    start: {day1} 10:00
    end: {day1} 12:30
    location: Durham County Hall
    featured: true
  - title: Conference day
    start: {day2}
    all_day: true
    featured: true
---

# Conformance update

Two events this month.
"""


def _jcal(ics: bytes) -> list[Any]:
    node = shutil.which("node")
    assert node is not None, "node is required: the test setup installs Node.js"
    done = subprocess.run(
        [node, str(JS_DIR / "jcal.mjs")], input=ics, capture_output=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr.decode()
    parsed: list[Any] = json.loads(done.stdout)
    return parsed


def _props(component: list[Any], name: str) -> list[list[Any]]:
    return [p for p in component[1] if p[0] == name]


def _one(component: list[Any], name: str) -> list[Any]:
    found = _props(component, name)
    assert len(found) == 1, f"{component[0]}: {len(found)} × {name.upper()}"
    return found[0]


def _check_with_ical_js(where: str, ics: bytes, recipient: str | None) -> dict[str, int]:
    """The MUSTs as ical.js reads them; returns {UID: SEQUENCE}."""
    vcalendar = _jcal(ics)
    assert vcalendar[0] == "vcalendar", where
    assert _one(vcalendar, "version")[3] == "2.0", where
    assert _one(vcalendar, "prodid")[3], where
    method = _one(vcalendar, "method")[3]
    assert method in ("PUBLISH", "REQUEST", "CANCEL"), where
    vevents = [c for c in vcalendar[2] if c[0] == "vevent"]
    if method != "PUBLISH":
        assert len(vevents) == 1, f"{where}: a {method} schedules exactly one event"
    sequences: dict[str, int] = {}
    for vevent in vevents:
        uid = _one(vevent, "uid")[3]
        stamp = _one(vevent, "dtstamp")
        assert stamp[2] == "date-time" and stamp[3].endswith("Z"), f"{where}: DTSTAMP not UTC"
        stamped = datetime.fromisoformat(stamp[3].replace("Z", "+00:00"))
        assert stamped <= datetime.now(UTC) + timedelta(seconds=5), where
        organizer = _one(vevent, "organizer")
        assert organizer[3].lower().startswith("mailto:"), where
        sequence = _one(vevent, "sequence")[3]
        assert isinstance(sequence, int) and sequence >= 0, where
        sequences[uid] = sequence
        assert not (_props(vevent, "dtend") and _props(vevent, "duration")), where
        attendees = _props(vevent, "attendee")
        if method in ("PUBLISH", "REQUEST"):
            _one(vevent, "dtstart")
            _one(vevent, "summary")
        if method == "PUBLISH":
            assert attendees == [], f"{where}: PUBLISH must not carry ATTENDEE"
        else:
            assert attendees, f"{where}: {method} must name the attendees it goes to"
            assert recipient is not None
            assert [a[3].lower() for a in attendees] == [f"mailto:{recipient}"], where
        if method == "REQUEST":
            assert attendees[0][1].get("rsvp") == "TRUE", where
        if method == "CANCEL":
            assert _one(vevent, "status")[3] == "CANCELLED", where
            assert not [c for c in vevent[2] if c[0] == "valarm"], where
    return sequences


def _check_with_icalendar(where: str, ics: bytes, recipient: str | None) -> None:
    """The same MUSTs as the Python ``icalendar`` package reads them."""
    calendar = icalendar.Calendar.from_ical(ics)
    assert str(calendar["VERSION"]) == "2.0" and calendar.get("PRODID"), where
    method = str(calendar["METHOD"])
    for vevent in calendar.walk("VEVENT"):
        stamp = vevent.decoded("DTSTAMP")
        assert isinstance(stamp, datetime) and stamp.utcoffset() == timedelta(0), where
        assert vevent.get("UID") and vevent.get("ORGANIZER") and "SEQUENCE" in vevent, where
        attendee = vevent.get("ATTENDEE")
        if method == "PUBLISH":
            assert attendee is None, where
        else:
            assert not isinstance(attendee, list), f"{where}: one recipient per message"
            assert str(attendee).lower() == f"mailto:{recipient}", where
        if method == "CANCEL":
            assert str(vevent["STATUS"]) == "CANCELLED", where
        if "DTEND" in vevent:
            assert vevent.decoded("DTEND") > vevent.decoded("DTSTART"), where


def _mail_calendars(messages: list[EmailMessage]) -> list[tuple[str, bytes, str]]:
    found = []
    for message in messages:
        to = str(message["To"]).split("<")[-1].rstrip(">").lower()
        for part in message.walk():
            if part.get_content_type() == "text/calendar":
                data = part.get_payload(decode=True)
                assert isinstance(data, bytes)
                found.append((f"{message['Subject']} to {to}", data, to))
    return found


def test_every_emitted_calendar_meets_rfc_5546(
    client: TestClient, transport: InMemoryTransport
) -> None:
    add_subscribers(3)
    now = datetime.now(UTC)
    text = TWO_EVENTS.format(
        day1=(now + timedelta(days=30)).strftime("%Y-%m-%d"),
        day2=(now + timedelta(days=45)).strftime("%Y-%m-%d"),
    )
    update_id = store_update(text)
    with session_scope() as session:
        timed, all_day = session.scalars(select(EventRecord).order_by(EventRecord.id)).all()
        timed_id, all_day_id = timed.id, all_day.id
    # Newsletter (PUBLISH), invitation (REQUEST), test copy (PUBLISH).
    send_now(update_id, ["dcs"])
    with session_scope() as session:
        invite = create_send(
            session, update_id=update_id, event_id=timed_id, kind="invitation", segments=["dcs"]
        ).id
    start_if_due(invite)
    run_until_idle()
    with session_scope() as session:
        send_test_copy(session, update_id, "dcs", "organiser@example.org")
    # Updates: REQUEST to invitees, PUBLISH for an event that was never an invitation.
    with session_scope() as session:
        moved = now + timedelta(days=31)
        notices = [
            edit_event(session, timed_id, start=moved, end=moved + timedelta(hours=1)),
            edit_event(session, all_day_id, location="Newcastle Civic Centre"),
        ]
    for change in notices:
        assert change.notice_send_id is not None
        start_if_due(change.notice_send_id)
    run_until_idle()
    # Cancellations: CANCEL to everyone who has each event.
    with session_scope() as session:
        cancels = [cancel_event(session, timed_id), cancel_event(session, all_day_id)]
    for change in cancels:
        assert change.notice_send_id is not None
        start_if_due(change.notice_send_id)
    run_until_idle()

    emitted = _mail_calendars(transport.parsed())
    methods = {icalendar.Calendar.from_ical(ics)["METHOD"] for _, ics, _ in emitted}
    assert methods == {"PUBLISH", "REQUEST", "CANCEL"}
    web = {
        f"/events/{timed_id}.ics": client.get(f"/events/{timed_id}.ics").content,
        f"/events/{all_day_id}.ics": client.get(f"/events/{all_day_id}.ics").content,
        "/calendar/all.ics": client.get("/calendar/all.ics").content,
        "/calendar/dcs.ics": client.get("/calendar/dcs.ics").content,
    }
    last_sequence: dict[tuple[str, str], int] = {}
    for where, ics, to in emitted:
        # In sending order, a recipient never sees an event's SEQUENCE go down.
        for uid, sequence in _check_with_ical_js(where, ics, to).items():
            assert sequence >= last_sequence.get((to, uid), 0), where
            last_sequence[(to, uid)] = sequence
        _check_with_icalendar(where, ics, to)
    for where, ics in web.items():
        _check_with_ical_js(where, ics, None)
        _check_with_icalendar(where, ics, None)
    for feed in ("/calendar/all.ics", "/calendar/dcs.ics"):
        vcalendar = _jcal(web[feed])
        refresh = _one(vcalendar, "refresh-interval")
        # jCal carries VALUE=DURATION as the value type (RFC 7265 §3.4.1.1).
        assert (refresh[2], refresh[3]) == ("duration", "PT12H"), refresh
        assert b"\r\nREFRESH-INTERVAL;VALUE=DURATION:PT12H\r\n" in web[feed]
        assert b"\r\nX-PUBLISHED-TTL:PT12H\r\n" in web[feed]
        assert _one(vcalendar, "x-published-ttl")[3] == "PT12H"
        statuses = [_one(c, "status")[3] for c in vcalendar[2] if c[0] == "vevent"]
        assert statuses == ["CANCELLED", "CANCELLED"]  # cancelled events stay, marked
