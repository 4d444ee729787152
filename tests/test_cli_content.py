"""Ingest, updates, events, render and invitations through the real CLI.

Messages written by ``newsletter render`` are parsed twice: by Python's
``email`` package and by Node's ``mailparser`` (an independent parser).
"""

from __future__ import annotations

import email
import email.policy
import json
import subprocess
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from icalendar import Calendar
from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.paths import SAMPLES_DIR

runner = CliRunner()
SAMPLE = SAMPLES_DIR / "north-east-2017-04.txt"


def _ingest(*paths: Path) -> Any:
    result = runner.invoke(app, ["ingest", "--json", *map(str, paths)])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_ingest_prints_the_documented_json_and_stores_it(database_url: str) -> None:
    data = _ingest(SAMPLE)
    assert set(data) == {
        "id", "title", "region", "period", "period_end", "period_label", "sections", "tags",
        "contacts", "events",
    }  # fmt: skip
    assert data["title"] == "North East Update April 2017" and data["period"] == "2017-04"
    assert (data["period_end"], data["period_label"]) == ("2017-04", "April 2017")
    event = data["events"][0]
    assert event["start"] == "2018-11-14T10:00:00+00:00" and event["featured"] is True
    assert set(event) == {
        "id", "title", "start", "end", "all_day", "timezone", "location", "featured", "source",
        "needs_title",
    }  # fmt: skip
    assert event["needs_title"] is True
    shown = runner.invoke(app, ["updates", "show", str(data["id"]), "--json"])
    assert json.loads(shown.stdout) == data
    several = _ingest(SAMPLE, SAMPLES_DIR / "north-east-2018-12.txt")
    assert isinstance(several, list) and len(several) == 2
    listed = json.loads(runner.invoke(app, ["updates", "list", "--json"]).stdout)
    assert len(listed) == 3


def test_bad_input_names_the_file_and_stores_nothing(database_url: str, tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    result = runner.invoke(app, ["ingest", str(SAMPLE), str(empty)])
    assert result.exit_code != 0
    assert "empty.txt" in result.stderr
    assert json.loads(runner.invoke(app, ["updates", "list", "--json"]).stdout) == []
    binary = tmp_path / "blob.txt"
    binary.write_bytes(bytes(range(256)) * 10)
    result = runner.invoke(app, ["ingest", str(binary)])
    assert result.exit_code != 0 and "blob.txt" in result.stderr


def test_events_list_edit_and_delete(database_url: str) -> None:
    data = _ingest(SAMPLE)
    event_id = data["events"][0]["id"]
    events = json.loads(runner.invoke(app, ["events", "list", "--json"]).stdout)
    assert [e["id"] for e in events] == [event_id]
    edited = runner.invoke(
        app,
        ["events", "edit", str(event_id), "--title", "Regional conference",
         "--start", "2018-11-14 09:30", "--location", "Durham"],
    )  # fmt: skip
    assert edited.exit_code == 0, edited.output
    assert "nobody is notified" in edited.stdout
    event = json.loads(runner.invoke(app, ["events", "list", "--json"]).stdout)[0]
    assert event["title"] == "Regional conference" and event["location"] == "Durham"
    assert event["start"] == "2018-11-14T09:30:00+00:00"
    bad = runner.invoke(app, ["events", "edit", str(event_id), "--start", "tomorrow-ish"])
    assert bad.exit_code == 2
    assert "--start 'tomorrow-ish': expected a time" in bad.stderr
    assert runner.invoke(app, ["updates", "delete", str(data["id"])]).exit_code == 0
    assert runner.invoke(app, ["updates", "show", str(data["id"])]).exit_code == 2


def _mailparser(js_dir: Path, data: bytes) -> dict[str, Any]:
    out = subprocess.run(
        ["node", str(js_dir / "parse_mime.mjs")], input=data, capture_output=True, check=True
    )
    parsed: dict[str, Any] = json.loads(out.stdout)
    return parsed


def test_render_writes_the_exact_message_and_parts(
    database_url: str, tmp_path: Path, js_dir: Path
) -> None:
    data = _ingest(SAMPLE)
    runner.invoke(app, ["subscribers", "add", "jo@durham.gov.uk", "--name", "Jo Bloggs"])
    out = tmp_path / "render"
    result = runner.invoke(
        app,
        ["render", str(data["id"]), "--segment", "workforce-lead", "--to", "jo@durham.gov.uk",
         "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    raw = (out / "message.eml").read_bytes()
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    assert message.get_content_type() == "multipart/mixed"
    alternative = message.get_payload()[0]  # type: ignore[index]
    assert isinstance(alternative, EmailMessage)
    kinds = [p.get_content_type() for p in alternative.iter_parts()]
    assert kinds == ["text/plain", "text/html", "text/calendar"]
    attachment = message.get_payload()[1]  # type: ignore[index]
    assert isinstance(attachment, EmailMessage)
    assert attachment.get_content_type() == "application/ics"
    assert str(attachment.get_filename()).endswith(".ics")
    html = (out / "message.html").read_text(encoding="utf-8")
    assert "Dear Jo Bloggs," in html and "For workforce leads" in html
    assert "Dear Jo Bloggs," in (out / "message.txt").read_text(encoding="utf-8")
    ics_files = list(out.glob("*.ics"))
    assert len(ics_files) == 1
    calendar = Calendar.from_ical(ics_files[0].read_bytes())
    assert str(calendar["METHOD"]) == "PUBLISH"

    independent = _mailparser(js_dir, raw)
    assert independent["subject"] == str(message["Subject"])
    assert independent["to"] == [{"address": "jo@durham.gov.uk", "name": "Jo Bloggs"}]
    assert independent["messageId"] == str(message["Message-ID"])
    assert independent["listUnsubscribePost"] == "List-Unsubscribe=One-Click"
    assert "Dear Jo Bloggs," in independent["text"] and "Dear Jo Bloggs," in independent["html"]
    calendars = [a for a in independent["attachments"] if "calendar" in a["contentType"]]
    assert calendars and all("METHOD:PUBLISH" in a["content"] for a in calendars)
    assert any(a["filename"] and a["filename"].endswith(".ics") for a in independent["attachments"])


def test_invitation_is_a_request_to_the_recipient(
    database_url: str, tmp_path: Path, js_dir: Path, monkeypatch: Any
) -> None:
    monkeypatch.setenv("NEWSLETTER_OUTBOX_DIR", str(tmp_path / "outbox"))
    from newsletter.config import reset_settings
    from newsletter.dispatch.runtime import set_runtime

    reset_settings()
    old = set_runtime(None)
    try:
        data = _ingest(SAMPLE)
        runner.invoke(app, ["subscribers", "add", "dcs@durham.gov.uk", "--name", "Di Rector",
                            "--role", "DCS"])  # fmt: skip
        result = runner.invoke(
            app, ["invite", str(data["events"][0]["id"]), "--segment", "dcs", "--yes"]
        )
        assert result.exit_code == 0, result.output
        send_id = result.stdout.splitlines()[0].strip()
        shown = json.loads(runner.invoke(app, ["sends", "show", send_id, "--json"]).stdout)
        assert shown == {
            "id": int(send_id), "status": "finished", "planned": 1, "sent": 1, "failed": 0,
            "skipped": 0, "pending": 0, "reason": None, "last_error": None, "reasons": [],
        }  # fmt: skip
        (eml,) = (tmp_path / "outbox").glob("*.eml")
        raw = eml.read_bytes()
    finally:
        set_runtime(old)
    message = email.message_from_bytes(raw, policy=email.policy.default)
    calendar_part = next(p for p in message.walk() if p.get_content_type() == "text/calendar")
    assert calendar_part.get_param("method") == "REQUEST"
    calendar = Calendar.from_ical(calendar_part.get_content())
    assert str(calendar["METHOD"]) == "REQUEST"
    (vevent,) = calendar.walk("VEVENT")
    attendee = vevent["ATTENDEE"]
    assert str(attendee).lower() == "mailto:dcs@durham.gov.uk"
    assert attendee.params["RSVP"] == "TRUE"
    assert "updates@newsletter.example.org" in str(vevent["ORGANIZER"]).lower()
    independent = _mailparser(js_dir, raw)
    requests = [a for a in independent["attachments"] if "METHOD:REQUEST" in a["content"]]
    assert requests


def test_sends_watch_list_and_controls(database_url: str, tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("NEWSLETTER_OUTBOX_DIR", str(tmp_path / "outbox"))
    from newsletter.config import reset_settings
    from newsletter.dispatch.runtime import set_runtime

    reset_settings()
    old = set_runtime(None)
    try:
        data = _ingest(SAMPLE)
        for i in range(3):
            runner.invoke(app, ["subscribers", "add", f"p{i}@x.org", "--role", "DCS"])
        dry = runner.invoke(app, ["send", str(data["id"]), "--segment", "dcs", "--dry-run"])
        assert dry.exit_code == 0 and "nothing is sent" in dry.stdout
        assert not (tmp_path / "outbox").exists()
        later = runner.invoke(
            app, ["send", str(data["id"]), "--segment", "dcs", "--at", "2099-01-01 09:00", "--yes"]
        )
        scheduled_id = later.stdout.splitlines()[0]
        assert runner.invoke(app, ["sends", "pause", scheduled_id]).exit_code == 0
        paused = runner.invoke(app, ["sends", "watch", scheduled_id, "--interval", "0.1"])
        assert paused.exit_code == 1 and "is paused" in paused.stderr
        assert runner.invoke(app, ["sends", "cancel", scheduled_id]).exit_code == 0
        again = runner.invoke(app, ["sends", "resume", scheduled_id])
        assert again.exit_code == 2 and "only a paused send can resume" in again.stderr

        unconfirmed = runner.invoke(app, ["send", str(data["id"]), "--segment", "dcs"])
        assert unconfirmed.exit_code == 2 and "add --yes" in unconfirmed.stderr
        assert "3 recipients" in unconfirmed.stderr or "total" in unconfirmed.stderr
        past = runner.invoke(
            app, ["send", str(data["id"]), "--segment", "dcs", "--at", "2020-01-01 09:00", "--yes"]
        )
        assert past.exit_code == 2 and "Wed 1 Jan 2020, 09:00 UK has already passed" in past.stderr
        now = runner.invoke(app, ["send", str(data["id"]), "--segment", "dcs", "--yes"])
        send_id = now.stdout.splitlines()[0]
        watched = runner.invoke(app, ["sends", "watch", send_id, "--interval", "0.1"])
        assert watched.exit_code == 0
        assert f"Send {send_id} is finished: planned 3, sent 3" in watched.stdout
        listed = json.loads(runner.invoke(app, ["sends", "list", "--json"]).stdout)
        assert {(s["id"], s["status"]) for s in listed} == {
            (int(scheduled_id), "cancelled"),
            (int(send_id), "finished"),
        }
    finally:
        set_runtime(old)


def test_event_changes_show_who_is_told_and_need_yes_off_a_terminal(
    database_url: str, tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.setenv("NEWSLETTER_OUTBOX_DIR", str(tmp_path / "outbox"))
    from newsletter.config import reset_settings
    from newsletter.dispatch.runtime import set_runtime

    reset_settings()
    old = set_runtime(None)
    try:
        data = _ingest(SAMPLE)
        event_id = str(data["events"][0]["id"])
        for address, name in (("di@durham.gov.uk", "Di Rector"), ("al@gateshead.gov.uk", "Al")):
            runner.invoke(app, ["subscribers", "add", address, "--name", name, "--role", "DCS"])
        assert runner.invoke(app, ["invite", event_id, "--segment", "dcs", "--yes"]).exit_code == 0
        outbox = tmp_path / "outbox"
        sent = len(list(outbox.glob("*.eml")))
        refused = runner.invoke(app, ["events", "edit", event_id, "--location", "Durham"])
        assert refused.exit_code == 2 and "--yes" in refused.stderr
        assert "Notifies 2 people: Di, Al." in refused.stdout
        assert "Updated: " in refused.stdout
        listed = json.loads(runner.invoke(app, ["events", "list", "--json"]).stdout)
        assert listed[0]["location"] != "Durham"  # nothing changed
        assert len(list(outbox.glob("*.eml"))) == sent
        moved = runner.invoke(
            app,
            ["events", "edit", event_id, "--location", "Durham", "--yes",
             "--message", "Parking is at the back."],
        )  # fmt: skip
        assert moved.exit_code == 0, moved.output
        notices = sorted(outbox.glob("*.eml"), key=lambda p: p.stat().st_mtime)[sent:]
        assert len(notices) == 2
        notice = email.message_from_bytes(notices[0].read_bytes(), policy=email.policy.default)
        assert isinstance(notice, EmailMessage)
        body = notice.get_body(("plain",))
        assert body is not None and "Parking is at the back." in body.get_content()
        sent = len(list(outbox.glob("*.eml")))
        refused = runner.invoke(app, ["events", "cancel", event_id])
        assert refused.exit_code == 2 and "--yes" in refused.stderr
        quiet = runner.invoke(app, ["events", "cancel", event_id, "--yes", "--no-notify"])
        assert quiet.exit_code == 0, quiet.output
        assert len(list(outbox.glob("*.eml"))) == sent  # nobody told, as asked
        table = runner.invoke(app, ["events", "attendees", event_id, "--csv", "-"])
        lines = table.stdout.splitlines()
        assert lines[0] == "name,email,organisation,status,replied_at,comment"
        assert len(lines) == 3 and all(",no reply," in line for line in lines[1:])
    finally:
        set_runtime(old)


def test_organiser_story_with_the_readme_commands_only(
    database_url: str, tmp_path: Path, js_dir: Path, monkeypatch: Any
) -> None:
    """Ingest, send, invite; replies counted; moved with a message; cancelled; unsubscribed."""
    from datetime import UTC, datetime
    from urllib.parse import unquote

    from rsvp_messages import apple_reply, gmail_reply, outlook_reply, unsubscribe_request

    monkeypatch.setenv("NEWSLETTER_OUTBOX_DIR", str(tmp_path / "outbox"))
    from newsletter.config import reset_settings
    from newsletter.dispatch.runtime import set_runtime

    reset_settings()
    old = set_runtime(None)
    outbox = tmp_path / "outbox"

    def new_mail(before: set[Path]) -> list[EmailMessage]:
        found = []
        for path in sorted(set(outbox.glob("*.eml")) - before):
            parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            assert isinstance(parsed, EmailMessage)
            found.append(parsed)
        return found

    def ok(*args: str) -> str:
        result = runner.invoke(app, list(args))
        assert result.exit_code == 0, result.output
        return result.stdout

    try:
        data = _ingest(SAMPLE)
        event_id = str(data["events"][0]["id"])
        people = {"ann@durham.gov.uk": "Ann", "bob@durham.gov.uk": "Bob", "cy@durham.gov.uk": "Cy"}
        for address, name in people.items():
            ok("subscribers", "add", address, "--name", name, "--role", "DCS")
        ok("send", str(data["id"]), "--segment", "dcs", "--yes")
        ok("invite", event_id, "--segment", "dcs", "--yes")
        uid = json.loads(ok("events", "list", "--json"))[0]["uid"]

        replies = tmp_path / "replies"
        replies.mkdir()
        stamp = datetime.now(UTC).replace(microsecond=0)
        (replies / "outlook.eml").write_bytes(
            outlook_reply(uid, "Ann@Durham.gov.uk", "Ann", "ACCEPTED", stamp)
        )
        (replies / "gmail.eml").write_bytes(
            gmail_reply(uid, "bob@durham.gov.uk", "Bob", "DECLINED", stamp)
        )
        (replies / "apple.eml").write_bytes(
            apple_reply(uid, "cy@durham.gov.uk", "Cy", "TENTATIVE", stamp)
        )
        rows = json.loads(ok("bounces", "ingest", str(replies), "--json"))
        assert [r["outcome"] for r in rows] == ["rsvp", "rsvp", "rsvp"]
        counts = json.loads(ok("events", "attendees", event_id, "--json"))["counts"]
        assert counts == {"accepted": 1, "tentative": 1, "declined": 1, "no reply": 0}

        before = set(outbox.glob("*.eml"))
        ok("events", "edit", event_id, "--start", "2018-11-21 14:00", "--end",
           "2018-11-21 16:00", "--message", "Moved to the 21st.", "--yes")  # fmt: skip
        notices = new_mail(before)
        assert sorted(str(m["To"]) for m in notices) == ["Ann <ann@durham.gov.uk>",
                                                          "Cy <cy@durham.gov.uk>"]  # fmt: skip
        for notice in notices:
            text = _mailparser(js_dir, bytes(notice))["text"]
            assert "Moved to the 21st." in text and "14 November" not in text

        before = set(outbox.glob("*.eml"))
        ok("events", "cancel", event_id, "--yes")
        cancels = new_mail(before)
        assert len(cancels) == 3  # decliners too: the cancellation goes to all
        for message in cancels:
            part = next(p for p in message.walk() if p.get_content_type() == "text/calendar")
            (vevent,) = Calendar.from_ical(part.get_content()).walk("VEVENT")
            address = str(message["To"]).split("<")[1].rstrip(">")
            assert str(vevent["ATTENDEE"]).lower() == f"mailto:{address}"

        mailto = str(cancels[0]["List-Unsubscribe"]).split("<mailto:")[1].split(">")[0]
        to, _, subject = mailto.partition("?subject=")
        who = str(cancels[0]["To"]).split("<")[1].rstrip(">")
        request = tmp_path / "unsubscribe.eml"
        request.write_bytes(unsubscribe_request(who, to, unquote(subject)))
        rows = json.loads(ok("bounces", "ingest", str(request), "--json"))
        assert rows[0]["outcome"] == "unsubscribed"
        assert json.loads(ok("subscribers", "show", who, "--json"))["status"] == "unsubscribed"
    finally:
        set_runtime(old)
