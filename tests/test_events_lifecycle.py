"""An event as attendees live it, end to end, through the product's own paths.

One organiser story on SQLite and PostgreSQL: an update with a featured event
is sent; invitations go out; Outlook, Gmail, Apple Calendar and bare-.ics
replies come back through the bounce intake and are counted; the event is
moved with a message (the notice carries it, decliners get nothing, every
surface shows only the new time); it is cancelled (METHOD:CANCEL naming each
recipient, archive and event page marked); a mailto unsubscribe unsubscribes.
What clients read is checked with real parsers: mailparser for the messages,
ical.js and icalendar for the calendars.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo

import icalendar
from fastapi.testclient import TestClient
from rsvp_messages import (
    apple_reply,
    bare_ics_reply,
    gmail_reply,
    out_of_office,
    outlook_reply,
    unsubscribe_request,
)
from sqlalchemy import select
from typer.testing import CliRunner
from web_fixtures import (
    add_subscribers,
    api_token,
    app,
    client,
    future_update_md,
    organiser,
    send_now,
    store_update,
    transport,
)

from newsletter.bounces.intake import ingest_message
from newsletter.bounces.models import BounceSetAside
from newsletter.calendar import calendar_links
from newsletter.cli import app as cli
from newsletter.db import session_scope
from newsletter.dispatch.control import start_if_due
from newsletter.dispatch.embedded import run_until_idle
from newsletter.events import replies
from newsletter.events.queries import event_from_record, get_event
from newsletter.events.reminders import create_due_reminders
from newsletter.models import EventRecipient, EventRecord, Subscriber
from newsletter.render.formatting import when_label
from newsletter.sends import create_send
from newsletter.transports.memory import InMemoryTransport

__all__ = ["api_token", "app", "client", "organiser", "transport"]  # fixtures

LONDON = ZoneInfo("Europe/London")
JS_DIR = Path(__file__).resolve().parent / "js"
PEOPLE = {  # address: (name, how they answer)
    "jane.doe@durham.gov.uk": ("Jane Doe", "outlook", "ACCEPTED"),
    "sam.smith@gateshead.gov.uk": ("Sam Smith", "gmail", "DECLINED"),
    "alex.jones@sunderland.gov.uk": ("Alex Jones", "apple", "TENTATIVE"),
    "kim.lee@newcastle.gov.uk": ("Kim Lee", "bare", "ACCEPTED"),
    "pat.roe@northumberland.gov.uk": ("Pat Roe", None, None),
}


def _people() -> None:
    from newsletter.subscribers import SubscriberInput, upsert

    rows = [
        SubscriberInput.build(email, name=name, organisation="Council", roles=["dcs"])
        for email, (name, _, _) in PEOPLE.items()
    ]
    with session_scope() as session:
        upsert(session, rows, default_status="active", consent_source="test")


def _node(script: str, data: bytes) -> Any:
    node = shutil.which("node")
    assert node is not None, "node is required: the test setup installs Node.js"
    done = subprocess.run(
        [node, str(JS_DIR / script)], input=data, capture_output=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr.decode()
    return json.loads(done.stdout)


def _run(send_id: int) -> None:
    start_if_due(send_id)
    run_until_idle()


def _address(message: EmailMessage) -> str:
    return str(message["To"]).split("<")[-1].rstrip(">").lower()


def _calendars(message: EmailMessage) -> list[bytes]:
    found = []
    for part in message.walk():
        if part.get_content_type() == "text/calendar":
            data = part.get_payload(decode=True)
            assert isinstance(data, bytes)
            found.append(data)
    return found


def _calendar_reply(
    uid: str, attendee: str, sender: str, partstat: str, stamp: datetime, sent_by: str = ""
) -> bytes:
    """A plain iTIP REPLY from ``sender`` answering for ``attendee``."""
    delegate = f';SENT-BY="mailto:{sent_by}"' if sent_by else ""
    ics = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Test//EN\r\nMETHOD:REPLY\r\n"
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:{stamp.strftime('%Y%m%dT%H%M%SZ')}\r\n"
        f"ATTENDEE;PARTSTAT={partstat}{delegate}:mailto:{attendee}\r\n"
        "SEQUENCE:0\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    return (
        f"From: <{sender}>\r\nTo: organiser@example.org\r\nSubject: Reply\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/calendar; method=REPLY; charset=utf-8\r\n"
        f"\r\n{ics}"
    ).encode()


def _reply(kind: str, uid: str, email: str, name: str, partstat: str, stamp: datetime) -> bytes:
    if kind == "outlook":
        # Outlook writes the mailbox's own capitalisation: matching ignores case.
        return outlook_reply(uid, email.title(), name, partstat, stamp, comment="See you there")
    if kind == "gmail":
        return gmail_reply(uid, email, name, partstat, stamp)
    if kind == "apple":
        return apple_reply(uid, email, name, partstat, stamp)
    return bare_ics_reply(uid, email, partstat, stamp)


def _old_date_marks(start: datetime) -> list[str]:
    """Ways a surface could spell the old date."""
    local = start.astimezone(LONDON)
    return [
        local.strftime("%Y%m%d"),
        local.strftime("%Y-%m-%d"),
        start.astimezone(UTC).strftime("%Y%m%d"),
        f"{local.day} {local:%B}",
        f"{local.day} {local:%b} ",
    ]


def _assert_no_old_date(where: str, text: str, marks: list[str]) -> None:
    for mark in marks:
        assert mark not in text, f"{where} still says {mark!r}"


def test_event_lifecycle(client: TestClient, transport: InMemoryTransport, api_token: str) -> None:
    auth = {"Authorization": f"Bearer {api_token}"}
    _people()
    add_subscribers(1, role="lead-member", prefix="member")  # not in the dcs audience
    update_id = store_update(future_update_md(days=40))
    with session_scope() as session:
        record = session.scalars(select(EventRecord)).one()
        event_id, uid, old_start = record.id, record.uid, record.start
        # As ingest keeps it from prose: the sentence names the date, which goes
        # stale once the event moves, so no rendering may use it.
        local = old_start.astimezone(LONDON)
        record.source = f"The regional DCS meeting is on {local.day} {local:%B} at 10am."

    # 1. The newsletter, then the invitations (REQUEST naming each invitee).
    send_now(update_id, ["dcs"])
    with session_scope() as session:
        invite_id = create_send(
            session, update_id=update_id, event_id=event_id, kind="invitation", segments=["dcs"]
        ).id
    _run(invite_id)
    invitations = [m for m in transport.parsed() if str(m["Subject"]).startswith("Invitation")]
    assert {_address(m) for m in invitations} == set(PEOPLE)
    for message in transport.parsed():
        # Bulk mail says so: out-of-office responders stay quiet (RFC 3834 §2).
        assert message["Auto-Submitted"] == "auto-generated"
        assert message["Precedence"] == "bulk"
    for message in invitations:
        (ics,) = _calendars(message)
        vevent = icalendar.Calendar.from_ical(ics).walk("VEVENT")[0]
        assert str(vevent["ATTENDEE"]).lower() == f"mailto:{_address(message)}"

    # 2. Replies from each client type come in through the bounce intake.
    stamp = datetime.now(UTC).replace(microsecond=0)
    with session_scope() as session:
        for email, (name, kind, partstat) in PEOPLE.items():
            if kind is None or partstat is None:
                continue
            raw = _reply(kind, uid, email, name, partstat, stamp)
            result = ingest_message(session, raw, source=f"test:{kind}")
            assert (result.outcome, result.email) == ("rsvp", email), result
        # The same answer again changes nothing; an older one never wins.
        again = ingest_message(
            session,
            _reply("gmail", uid, "sam.smith@gateshead.gov.uk", "Sam Smith", "DECLINED", stamp),
            source="again",
        )
        assert again.outcome == "duplicate"
        earlier = stamp - timedelta(hours=1)
        alex = _reply("apple", uid, "alex.jones@sunderland.gov.uk", "Alex", "ACCEPTED", earlier)
        older = ingest_message(session, alex, source="older")
        assert older.outcome == "duplicate"
        # Unknown UID, unknown address, someone the event never went to: set aside.
        for raw, reason in (
            (gmail_reply("nope@x", "jane.doe@durham.gov.uk", "J", "ACCEPTED", stamp),
             "reply to an unknown event"),
            (gmail_reply(uid, "stranger@example.net", "S", "ACCEPTED", stamp),
             "reply from an unknown address"),
            (gmail_reply(uid, "member0@example.org", "M", "ACCEPTED", stamp),
             "reply from someone the event was not sent to"),
        ):  # fmt: skip
            kept = ingest_message(session, raw, source="bad")
            assert (kept.outcome, kept.reason) == ("set-aside", reason)
        # Nobody answers for someone else by naming them: the message must come
        # from the attendee (or from the delegate its SENT-BY names).
        pat = "pat.roe@northumberland.gov.uk"
        impostor = _calendar_reply(uid, pat, "mallory@example.net", "DECLINED", stamp)
        kept = ingest_message(session, impostor, source="forged")
        assert (kept.outcome, kept.reason) == (
            "set-aside",
            "reply sent by someone other than the attendee",
        )
        # A delegate's message passes that check (Sam's answer is already kept,
        # so it changes nothing: "duplicate", not "set-aside").
        sam, assistant = "sam.smith@gateshead.gov.uk", "assistant@gateshead.gov.uk"
        delegated = _calendar_reply(uid, sam, assistant, "DECLINED", stamp, sent_by=assistant)
        by_delegate = ingest_message(session, delegated, source="delegate")
        assert (by_delegate.outcome, by_delegate.email) == ("duplicate", sam), by_delegate
        undelegated = _calendar_reply(uid, sam, assistant, "DECLINED", stamp)
        assert ingest_message(session, undelegated, source="undelegated").outcome == "set-aside"
        people = replies.attendees(session, event_id)
    assert replies.counts(people) == {"accepted": 2, "tentative": 1, "declined": 1, "no reply": 1}
    jane = next(p for p in people if p.email == "jane.doe@durham.gov.uk")
    assert (jane.status, jane.comment, jane.replied_at) == ("accepted", "See you there", stamp)

    # Organisers see them: API, CSV, CLI, console.
    listed = client.get(f"/api/v1/events/{event_id}/attendees", headers=auth).json()
    assert listed["counts"]["declined"] == 1
    assert {a["email"]: a["status"] for a in listed["attendees"]}[
        "alex.jones@sunderland.gov.uk"
    ] == ("tentative")
    csv_text = client.get(f"/api/v1/events/{event_id}/attendees.csv", headers=auth).text
    rows = list(csv.reader(io.StringIO(csv_text)))
    assert rows[0] == ["name", "email", "organisation", "status", "replied_at", "comment"]
    assert len(rows) == 1 + len(PEOPLE)
    shown = CliRunner().invoke(cli, ["events", "attendees", str(event_id), "--json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["counts"]["accepted"] == 2
    assert client.get("/api/v1/events/999999/attendees", headers=auth).status_code == 404

    # 3. Move the event with a message: a dry run first, then for real.
    new_start = (old_start + timedelta(days=5)).astimezone(LONDON).replace(hour=14, minute=0)
    patch = {
        "start": new_start.strftime("%Y-%m-%d %H:%M"),
        "end": (new_start + timedelta(hours=2)).strftime("%Y-%m-%d %H:%M"),
        "message": "We have moved to a bigger room; lunch is provided.",
    }
    dry = client.patch(f"/api/v1/events/{event_id}?dry_run=true", json=patch, headers=auth)
    assert dry.status_code == 200, dry.text
    assert dry.json()["notified"] == 4  # everyone but the decliner
    assert "Sam" not in dry.json()["names"]
    with session_scope() as session:
        assert get_event(session, event_id).start == old_start  # nothing changed yet
    transport.clear()
    moved = client.patch(f"/api/v1/events/{event_id}", json=patch, headers=auth)
    assert moved.status_code == 200, moved.text
    run_until_idle()
    notices = transport.parsed()
    assert {_address(m) for m in notices} == set(PEOPLE) - {"sam.smith@gateshead.gov.uk"}
    marks = _old_date_marks(old_start)
    read = _node("parse_mime.mjs", bytes(notices[0]))
    assert read["subject"] == "Updated: Regional DCS meeting"
    assert "bigger room; lunch is provided" in read["text"]
    _assert_no_old_date("update notice (text)", read["text"], marks)
    _assert_no_old_date("update notice (HTML)", read["html"], marks)
    (request,) = [a for a in read["attachments"] if a["contentType"] == "text/calendar"]
    assert request["method"] == "REQUEST"  # it went out as an invitation
    _assert_no_old_date("update notice calendar", request["content"], marks)
    jcal = _node("jcal.mjs", request["content"].encode())
    vevent = next(c for c in jcal[2] if c[0] == "vevent")
    props = {p[0]: p for p in vevent[1]}
    assert props["sequence"][3] == 1

    # Every other surface, built from the stored fields now, shows only the new time.
    with session_scope() as session:
        event = event_from_record(get_event(session, event_id))
    links = calendar_links(event, "https://newsletter.example.org")
    for name, url in (("Google", links.google), ("Outlook", links.outlook),
                      ("Office 365", links.office365), ("Yahoo", links.yahoo)):  # fmt: skip
        _assert_no_old_date(f"{name} link", unquote(url), marks)
    surfaces = {
        "event page": client.get(f"/events/{event_id}").text,
        ".ics download": client.get(f"/events/{event_id}.ics").text,
        "all feed": client.get("/calendar/all.ics").text,
        "dcs feed": client.get("/calendar/dcs.ics").text,
        "archive page": client.get(f"/archive/{update_id}").text,
    }
    for where, text in surfaces.items():
        _assert_no_old_date(where, text, marks)
    assert new_start.strftime("%Y%m%dT%H%M%S") in surfaces[".ics download"]
    # A reminder is built from the same fields (the person got the event a day ago).
    with session_scope() as session:
        get_event(session, event_id).start = datetime.now(UTC) + timedelta(hours=20)
        for row in session.scalars(select(EventRecipient)):
            row.created_at = datetime.now(UTC) - timedelta(days=1)
        moved_event = event_from_record(get_event(session, event_id))
    transport.clear()
    for send_id in create_due_reminders():
        _run(send_id)
    reminders = transport.parsed()
    assert reminders and all(str(m["Subject"]).startswith("Reminder") for m in reminders)
    assert "sam.smith@gateshead.gov.uk" not in {_address(m) for m in reminders}
    body = reminders[0].get_body(("plain",))
    assert body is not None
    _assert_no_old_date("reminder", body.get_content(), marks)
    assert when_label(moved_event) in " ".join(body.get_content().split())

    # 4. Cancel: METHOD:CANCEL naming each recipient, to everyone who has it.
    transport.clear()
    cancelled = client.post(
        f"/api/v1/events/{event_id}/cancel", json={"message": "Sorry, see you in spring."},
        headers=auth,
    )  # fmt: skip
    assert cancelled.status_code == 200, cancelled.text
    run_until_idle()
    cancels = transport.parsed()
    assert {_address(m) for m in cancels} == set(PEOPLE)
    for message in cancels:
        (ics,) = _calendars(message)
        cal = icalendar.Calendar.from_ical(ics)
        assert cal["METHOD"] == "CANCEL"
        vevent = cal.walk("VEVENT")[0]
        assert str(vevent["ATTENDEE"]).lower() == f"mailto:{_address(message)}"
        assert vevent["STATUS"] == "CANCELLED"
    plain = cancels[0].get_body(("plain",))
    assert plain is not None and "see you in spring" in plain.get_content()
    page = client.get(f"/events/{event_id}").text
    assert "This event has been cancelled" in page
    assert "calendar.google.com" not in page and f"/events/{event_id}.ics" not in page
    archive = client.get(f"/archive/{update_id}").text
    assert "This event has been cancelled" in archive and "calendar.google.com" not in archive
    feed = icalendar.Calendar.from_ical(client.get("/calendar/all.ics").content)
    assert [str(e["STATUS"]) for e in feed.walk("VEVENT")] == ["CANCELLED"]
    assert client.post(f"/api/v1/events/{event_id}/cancel", headers=auth).status_code == 409

    # 5. A mailto unsubscribe, from the address List-Unsubscribe advertises.
    header = str(cancels[0]["List-Unsubscribe"])
    mailto = re.search(r"<mailto:([^?>]+)\?subject=([^>]+)>", header)
    assert mailto is not None
    to, subject = mailto.group(1), unquote(mailto.group(2))
    who = _address(cancels[0])
    with session_scope() as session:
        done = ingest_message(session, unsubscribe_request(who, to, subject), source="mailto")
        assert (done.outcome, done.email) == ("unsubscribed", who)
        again = ingest_message(session, unsubscribe_request(who, to, subject, "again"), source="m")
        assert again.outcome == "unsubscribed" and again.reason == "already unsubscribed"
        forged = ingest_message(
            session, unsubscribe_request(who, to, "unsubscribe " + "A" * 44), source="forged"
        )
        assert (forged.outcome, forged.reason) == (
            "set-aside",
            "unsubscribe request with no valid token",
        )
        status = session.scalars(select(Subscriber.status).where(Subscriber.email_key == who)).one()
        assert status == "unsubscribed"
        # An out-of-office answer is recognised and ignored: nothing kept, nobody touched.
        before = len(session.scalars(select(BounceSetAside.id)).all())
        oof = ingest_message(session, out_of_office("pat.roe@northumberland.gov.uk", "Updated"))
        assert oof.outcome == "auto-reply"
        assert len(session.scalars(select(BounceSetAside.id)).all()) == before
