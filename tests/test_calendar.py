"""Calendars parsed back by two independent readers: ``icalendar`` and Mozilla's ical.js.

ical.js is the parser inside Thunderbird; ``tests/js/ical_times.mjs`` runs it
under Node and resolves TZIDs through the calendar's own VTIMEZONE.  The
Python side does the same with ``Timezone.to_tz(lookup_tzid=False)`` so that
neither reader can fall back on a system zone database and hide a wrong
VTIMEZONE.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from icalendar import Calendar, Component, Timezone

from newsletter.calendar import (
    build_calendar,
    cancel_part,
    feed,
    fold_line,
    ics_filename,
    publish_part,
    request_part,
    with_attendee,
)
from newsletter.config import reset_settings
from newsletter.content import Event
from newsletter.parts import CalendarPart

JS_DIR = Path(__file__).parent / "js"
LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
FROM = "North East Children's Services Network <updates@newsletter.example.org>"

IcalJs = Callable[[bytes], dict[str, Any]]


# --- fixtures ---------------------------------------------------------------


@pytest.fixture(scope="session")
def ical_js(js_dir: Path) -> IcalJs:
    """Parse an .ics with ical.js; returns ical_times.mjs's JSON."""
    node = shutil.which("node")
    assert node is not None, "node is required: the test setup installs Node.js"

    def parse(ics: bytes) -> dict[str, Any]:
        done = subprocess.run(
            [node, str(js_dir / "ical_times.mjs")],
            input=ics,
            capture_output=True,
            check=False,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr.decode()
        result: dict[str, Any] = json.loads(done.stdout)
        return result

    return parse


@pytest.fixture(autouse=True)
def organiser(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("NEWSLETTER_FROM_ADDRESS", FROM)
    reset_settings()
    yield
    reset_settings()


# --- helpers ----------------------------------------------------------------


def make_event(**overrides: Any) -> Event:
    fields: dict[str, Any] = {
        "title": "Regional DCS meeting",
        "start": datetime(2018, 11, 14, 10, 0, tzinfo=LONDON),
        "location": "Civic Centre, Newcastle upon Tyne",
        "id": 42,
        "uid": "event-42@newsletter.example.org",
        "url": "https://newsletter.example.org/events/42",
        "source": "The regional DCS meeting is on 14 November at 10am in Newcastle.",
    }
    fields.update(overrides)
    return Event(**fields)


def py_parse(ics: bytes) -> dict[str, Any]:
    """What ``icalendar`` reads, with times resolved through the file's own VTIMEZONE."""
    cal = Calendar.from_ical(ics)
    zones: dict[str, tzinfo] = {}
    for vtimezone in cal.walk("VTIMEZONE"):
        assert isinstance(vtimezone, Timezone)
        # lookup_tzid=False: build the zone from this VTIMEZONE, not the system database.
        zones[str(vtimezone["TZID"])] = vtimezone.to_tz(lookup_tzid=False)

    def when(vevent: Component, name: str) -> Any:
        if name not in vevent:
            return None
        prop: Any = vevent[name]
        value = prop.dt
        if type(value) is date:
            return value
        assert isinstance(value, datetime)
        tzid = prop.params.get("TZID")
        if tzid is not None:
            return value.replace(tzinfo=zones[tzid]).astimezone(UTC)
        assert value.tzinfo is not None, f"{name} is a floating time"
        return value.astimezone(UTC)

    events = []
    for vevent in cal.walk("VEVENT"):
        attendees = vevent.get("ATTENDEE", [])
        if not isinstance(attendees, list):
            attendees = [attendees]
        events.append(
            {
                "uid": str(vevent["UID"]),
                "summary": str(vevent["SUMMARY"]),
                "start": when(vevent, "DTSTART"),
                "end": when(vevent, "DTEND"),
                "dtstamp": vevent.decoded("DTSTAMP"),
                "sequence": vevent.get("SEQUENCE"),
                "status": str(vevent.get("STATUS")),
                "description": str(vevent.get("DESCRIPTION")),
                "url": str(vevent.get("URL")),
                "organizer": vevent.get("ORGANIZER"),
                "attendees": attendees,
                "alarms": [a.decoded("TRIGGER") for a in vevent.walk("VALARM")],
            }
        )
    return {
        "method": str(cal["METHOD"]),
        "calname": str(cal["X-WR-CALNAME"]) if "X-WR-CALNAME" in cal else None,
        "events": events,
    }


def zulu(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def assert_wire_format(ics: bytes) -> None:
    """RFC 5545 §3.1: CRLF after every line, ≤ 75 octets, folds not inside UTF-8."""
    assert ics.endswith(b"\r\n")
    lines = ics[:-2].split(b"\r\n")
    for line in lines:
        assert b"\n" not in line and b"\r" not in line, line
        assert len(line) <= 75, (len(line), line)
        line.decode("utf-8")  # a fold that split a character would fail here
    assert lines[0] == b"BEGIN:VCALENDAR" and lines[-1] == b"END:VCALENDAR"


def unfolded_lines(ics: bytes) -> list[bytes]:
    return ics.replace(b"\r\n ", b"").split(b"\r\n")[:-1]


# --- times in winter and summer ---------------------------------------------

SEASONS = [
    # Two instants across the winter/summer divide, then both sides of each 2026 clock change.
    (datetime(2018, 11, 14, 10, 0), "2018-11-14T10:00:00Z"),
    (datetime(2026, 7, 10, 15, 0), "2026-07-10T14:00:00Z"),
    (datetime(2026, 3, 29, 0, 30), "2026-03-29T00:30:00Z"),
    (datetime(2026, 3, 29, 2, 30), "2026-03-29T01:30:00Z"),
    (datetime(2026, 10, 25, 0, 30), "2026-10-24T23:30:00Z"),
    (datetime(2026, 10, 25, 3, 0), "2026-10-25T03:00:00Z"),
    (datetime(2041, 6, 1, 9, 0), "2041-06-01T08:00:00Z"),
]


@pytest.mark.parametrize(("local", "expected"), SEASONS, ids=[s[1] for s in SEASONS])
@pytest.mark.parametrize("method", ["PUBLISH", "REQUEST", "CANCEL"])
def test_london_times_read_right_by_both_parsers(
    ical_js: IcalJs, local: datetime, expected: str, method: str
) -> None:
    event = make_event(start=local.replace(tzinfo=LONDON))
    ics = build_calendar([event], method, now=NOW)
    assert_wire_format(ics)
    assert f"DTSTART;TZID=Europe/London:{local:%Y%m%dT%H%M%S}".encode() in unfolded_lines(ics)

    js = ical_js(ics)["events"][0]
    assert js["start"]["tzid"] == "Europe/London"
    assert js["end"]["tzid"] in ("Europe/London", None)  # UTC only when repeated, below
    assert js["start"]["utc"] == expected
    assert js["end"]["unix"] - js["start"]["unix"] == 3600  # default duration: one hour

    py = py_parse(ics)["events"][0]
    assert zulu(py["start"]) == expected
    assert py["end"] - py["start"] == timedelta(hours=1)


@pytest.mark.parametrize(
    ("start", "utc_line", "end_utc"),
    [
        # Ends at 01:30 BST, the first 01:30 of the night the clocks go back.
        (datetime(2026, 10, 25, 0, 30, tzinfo=LONDON), b"DTEND:20261025T003000Z", "00:30"),
        # Starts at the second 01:30 (GMT): fold=1.
        (
            datetime(2026, 10, 25, 1, 30, fold=1, tzinfo=LONDON),
            b"DTSTART:20261025T013000Z",
            "02:30",
        ),
    ],
    ids=["end-in-first-hour", "start-in-second-hour"],
)
def test_repeated_hour_is_written_in_utc(
    ical_js: IcalJs, start: datetime, utc_line: bytes, end_utc: str
) -> None:
    ics = build_calendar([make_event(start=start)], "PUBLISH", now=NOW)
    assert utc_line in unfolded_lines(ics)
    js = ical_js(ics)["events"][0]
    py = py_parse(ics)["events"][0]
    assert js["start"]["utc"] == zulu(py["start"]) == zulu(start)
    assert js["end"]["utc"] == zulu(py["end"]) == f"2026-10-25T{end_utc}:00Z"


def test_explicit_end_and_other_zone_keep_the_instant(ical_js: IcalJs) -> None:
    # An event announced in New York time is written as London wall-clock time.
    start = datetime(2026, 7, 10, 10, 0, tzinfo=ZoneInfo("America/New_York"))
    event = make_event(start=start, end=start + timedelta(hours=2, minutes=30))
    ics = build_calendar([event], "PUBLISH", now=NOW)
    js = ical_js(ics)["events"][0]
    py = py_parse(ics)["events"][0]
    assert js["start"]["utc"] == zulu(py["start"]) == "2026-07-10T14:00:00Z"
    assert js["end"]["utc"] == zulu(py["end"]) == "2026-07-10T16:30:00Z"
    assert js["start"]["local"] == "2026-07-10T15:00:00"


def test_vtimezone_is_rule_based_europe_london() -> None:
    cal = Calendar.from_ical(build_calendar([make_event()], "PUBLISH", now=NOW))
    (vtz,) = cal.walk("VTIMEZONE")
    assert str(vtz["TZID"]) == "Europe/London"
    (daylight,) = vtz.walk("DAYLIGHT")
    (standard,) = vtz.walk("STANDARD")
    for observance, month, name in ((daylight, 3, "BST"), (standard, 10, "GMT")):
        assert "RDATE" not in observance  # no generated transition lists
        rule: Any = observance["RRULE"]
        assert rule["FREQ"] == ["YEARLY"]
        assert rule["BYMONTH"] == [month]
        assert rule["BYDAY"] == ["-1SU"]
        assert str(observance["TZNAME"]) == name
    # Both changes happen at 01:00 UTC: 01:00 GMT in March, 02:00 BST in October.
    assert daylight.decoded("DTSTART").time().hour == 1
    assert standard.decoded("DTSTART").time().hour == 2
    assert daylight.decoded("TZOFFSETTO") == timedelta(hours=1)
    assert standard.decoded("TZOFFSETTO") == timedelta(0)


# --- all-day events ----------------------------------------------------------


@pytest.mark.parametrize(
    ("last_day", "exclusive_end"),
    [(None, date(2026, 7, 11)), (date(2026, 7, 12), date(2026, 7, 13))],
    ids=["one-day", "three-days"],
)
def test_all_day_has_exclusive_dtend(
    ical_js: IcalJs, last_day: date | None, exclusive_end: date
) -> None:
    end = datetime.combine(last_day, datetime.min.time(), LONDON) if last_day else None
    event = make_event(start=datetime(2026, 7, 10, tzinfo=LONDON), end=end, all_day=True)
    ics = build_calendar([event], "PUBLISH", now=NOW)
    assert_wire_format(ics)
    lines = unfolded_lines(ics)
    assert b"DTSTART;VALUE=DATE:20260710" in lines
    assert f"DTEND;VALUE=DATE:{exclusive_end:%Y%m%d}".encode() in lines

    js = ical_js(ics)["events"][0]
    assert js["start"] == {"date": "2026-07-10", "is_date": True}
    assert js["end"] == {"date": exclusive_end.isoformat(), "is_date": True}
    py = py_parse(ics)["events"][0]
    assert (py["start"], py["end"]) == (date(2026, 7, 10), exclusive_end)


# --- identity: UID, DTSTAMP, SEQUENCE ---------------------------------------


def test_uid_is_stable_and_dtstamp_is_utc(ical_js: IcalJs) -> None:
    event = make_event()
    first = build_calendar([event], "PUBLISH", now=NOW)
    later = build_calendar([event], "REQUEST", now=datetime(2026, 2, 1, 12, 0, 7, tzinfo=LONDON))
    assert ical_js(first)["events"][0]["uid"] == "event-42@newsletter.example.org"
    assert ical_js(later)["events"][0]["uid"] == "event-42@newsletter.example.org"
    assert py_parse(first)["events"][0]["uid"] == py_parse(later)["events"][0]["uid"]

    assert b"DTSTAMP:20260105T093000Z" in unfolded_lines(first)
    assert b"DTSTAMP:20260201T120007Z" in unfolded_lines(later)
    for ics in (first, later):
        assert ical_js(ics)["events"][0]["dtstamp_utc"] is True
        assert py_parse(ics)["events"][0]["dtstamp"].utcoffset() == timedelta(0)


def test_default_dtstamp_is_now_in_utc() -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    stamp = py_parse(build_calendar([make_event()], "PUBLISH"))["events"][0]["dtstamp"]
    assert before <= stamp <= datetime.now(UTC)
    assert stamp.tzinfo is not None and stamp.utcoffset() == timedelta(0)


def test_update_keeps_uid_and_carries_sequence(ical_js: IcalJs) -> None:
    moved = make_event(start=datetime(2018, 11, 21, 14, 0, tzinfo=LONDON), sequence=1)
    js = ical_js(request_part(moved, now=NOW).ics)["events"][0]
    assert js["uid"] == "event-42@newsletter.example.org"
    assert js["sequence"] == 1
    assert js["start"]["utc"] == "2018-11-21T14:00:00Z"
    assert js["status"] == "CONFIRMED"


def test_event_without_uid_is_refused() -> None:
    with pytest.raises(ValueError, match="UID"):
        build_calendar([make_event(uid=None)], "PUBLISH", now=NOW)


def test_bad_method_count_and_times_are_refused() -> None:
    with pytest.raises(ValueError, match="method"):
        build_calendar([make_event()], "REPLY", now=NOW)
    with pytest.raises(ValueError, match="exactly one"):
        build_calendar([make_event(), make_event(uid="other")], "REQUEST", now=NOW)
    with pytest.raises(ValueError, match="ends before"):
        start = datetime(2026, 7, 10, 15, tzinfo=LONDON)
        build_calendar([make_event(start=start, end=start - timedelta(minutes=1))], "PUBLISH")
    with pytest.raises(ValueError, match="time zone"):
        build_calendar([make_event()], "PUBLISH", now=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="negative"):
        build_calendar([make_event()], "PUBLISH", alarm_minutes=-5, now=NOW)


# --- content properties -------------------------------------------------------


def test_properties_read_back(ical_js: IcalJs) -> None:
    update_url = "https://newsletter.example.org/updates/7"
    ics = build_calendar([make_event()], "PUBLISH", update_url=update_url, now=NOW)
    lines = unfolded_lines(ics)
    assert lines[:2] == [b"BEGIN:VCALENDAR", b"VERSION:2.0"]
    assert any(line.startswith(b"PRODID:") for line in lines)

    js = ical_js(ics)
    assert js["method"] == "PUBLISH" and js["version"] == "2.0" and js["prodid"]
    (event,) = js["events"]
    assert event["summary"] == "Regional DCS meeting"
    assert event["location"] == "Civic Centre, Newcastle upon Tyne"
    assert event["url"] == "https://newsletter.example.org/events/42"
    # Built from the structured fields only: the source sentence (which names
    # the date) never reaches a calendar, so it cannot go stale when the event moves.
    assert event["description"].startswith("Where: Civic Centre, Newcastle upon Tyne")
    assert "14 November" not in event["description"]
    assert update_url in event["description"]
    assert event["organizer"]["value"] == "mailto:updates@newsletter.example.org"
    assert event["organizer"]["cn"] == "North East Children's Services Network"
    assert event["sequence"] == 0

    (py,) = py_parse(ics)["events"]
    assert update_url in py["description"]
    assert str(py["organizer"]) == "mailto:updates@newsletter.example.org"
    assert py["organizer"].params["CN"] == "North East Children's Services Network"


@pytest.mark.parametrize("minutes", [30, 1440])
def test_optional_alarm(ical_js: IcalJs, minutes: int) -> None:
    ics = build_calendar([make_event()], "REQUEST", alarm_minutes=minutes, now=NOW)
    (alarm,) = ical_js(ics)["events"][0]["alarms"]
    assert alarm["action"] == "DISPLAY"
    assert alarm["description"]
    assert py_parse(ics)["events"][0]["alarms"] == [timedelta(minutes=-minutes)]
    assert ical_js(build_calendar([make_event()], "PUBLISH", now=NOW))["events"][0]["alarms"] == []


# --- PUBLISH, REQUEST + ATTENDEE, CANCEL ---------------------------------------


def test_publish_part_has_no_attendee(ical_js: IcalJs) -> None:
    part = publish_part(make_event(), now=NOW)
    assert (part.method, part.filename) == ("PUBLISH", "regional-dcs-meeting.ics")
    assert_wire_format(part.ics)
    js = ical_js(part.ics)
    assert js["method"] == "PUBLISH"
    assert js["events"][0]["attendees"] == []
    assert py_parse(part.ics)["events"][0]["attendees"] == []
    with pytest.raises(ValueError, match="PUBLISH"):
        with_attendee(part, "jane@example.org", "Jane")


def test_request_names_exactly_the_recipient(ical_js: IcalJs) -> None:
    template = request_part(make_event(), alarm_minutes=60, now=NOW)
    assert template.method == "REQUEST"
    assert ical_js(template.ics)["events"][0]["attendees"] == []

    name = 'Jane "JJ" Smith-Ávila, DCS: Gateshead; Lead ^ member'
    part = with_attendee(template, "jane.smith@gateshead.example.gov.uk", name)
    assert_wire_format(part.ics)
    assert (part.method, part.filename) == (template.method, template.filename)

    js = ical_js(part.ics)
    assert js["method"] == "REQUEST"
    (attendee,) = js["events"][0]["attendees"]
    assert attendee == {
        "value": "mailto:jane.smith@gateshead.example.gov.uk",
        "cn": name,
        "role": "REQ-PARTICIPANT",
        "partstat": "NEEDS-ACTION",
        "rsvp": "TRUE",
    }
    assert len(js["events"][0]["alarms"]) == 1  # the alarm survived the splice

    (py_attendee,) = py_parse(part.ics)["events"][0]["attendees"]
    assert str(py_attendee) == "mailto:jane.smith@gateshead.example.gov.uk"
    assert py_attendee.params["CN"] == name
    assert py_attendee.params["RSVP"] == "TRUE"

    # Only the ATTENDEE line was added: everything else is the template, byte for byte.
    other = with_attendee(template, "sam@example.org", None)
    (only,) = ical_js(other.ics)["events"][0]["attendees"]
    assert only["value"] == "mailto:sam@example.org" and only["cn"] is None
    added = [line for line in unfolded_lines(other.ics) if line not in unfolded_lines(template.ics)]
    assert added == [
        b"ATTENDEE;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:sam@example.org"
    ]


def test_with_attendee_refuses_injection_and_reuse() -> None:
    template = request_part(make_event(), now=NOW)
    for email, name in [
        ("jane@example.org\r\nATTENDEE:mailto:x@evil.example", None),
        ("jane@example.org", "Jane\nSmith"),
        ("jane@example.org", "Jane\rSmith"),
        ("not an address", None),
        ("nobody", None),
    ]:
        with pytest.raises(ValueError):
            with_attendee(template, email, name)
    once = with_attendee(template, "jane@example.org", "Jane")
    with pytest.raises(ValueError, match="already"):
        with_attendee(once, "sam@example.org", "Sam")
    with pytest.raises(ValueError, match="one VEVENT"):
        with_attendee(CalendarPart("REQUEST", "x.ics", b"BEGIN:VCALENDAR\r\n"), "a@b.org", None)


def test_cancel_has_status_cancelled(ical_js: IcalJs) -> None:
    part = cancel_part(make_event(sequence=2, cancelled=True), now=NOW)
    assert part.method == "CANCEL"
    assert_wire_format(part.ics)
    js = ical_js(part.ics)
    assert js["method"] == "CANCEL"
    (event,) = js["events"]
    assert (event["status"], event["sequence"]) == ("CANCELLED", 2)
    assert event["uid"] == "event-42@newsletter.example.org"
    assert event["alarms"] == []
    py = py_parse(part.ics)
    assert py["method"] == "CANCEL"
    assert (py["events"][0]["status"], py["events"][0]["sequence"]) == ("CANCELLED", 2)

    # Invitees who had a REQUEST are named in the CANCEL (RFC 5546 §3.2.5), without RSVP.
    named = with_attendee(part, "jane@example.org", "Jane")
    (attendee,) = ical_js(named.ics)["events"][0]["attendees"]
    assert attendee["value"] == "mailto:jane@example.org" and attendee["rsvp"] is None


# --- wire format ---------------------------------------------------------------


def test_long_and_non_ascii_values_fold_at_75_octets(ical_js: IcalJs) -> None:
    title = "Événement régional — " * 8 + "“quoted”, with; separators\\ and 漢字"
    event = make_event(
        title=title,
        location="Salle des fêtes, " * 10,
        source="Une très longue description, " * 30,
    )
    template = request_part(event, update_url="https://x.example/" + "a" * 120, now=NOW)
    part = with_attendee(template, "zoë@example.org", "Zoë Ñúñez-Øster " * 6)
    assert_wire_format(part.ics)
    js = ical_js(part.ics)["events"][0]
    assert js["summary"] == title
    assert js["attendees"][0]["cn"] == ("Zoë Ñúñez-Øster " * 6).strip()
    assert py_parse(part.ics)["events"][0]["summary"] == title


def test_feed_lists_many_events_under_a_name(ical_js: IcalJs) -> None:
    events = [
        make_event(),
        make_event(
            uid="event-43@newsletter.example.org",
            title="Workforce leads",
            start=datetime(2026, 7, 10, 15, 0, tzinfo=LONDON),
        ),
        make_event(
            uid="event-44@newsletter.example.org",
            title="Conference",
            start=datetime(2026, 9, 1, tzinfo=LONDON),
            all_day=True,
            cancelled=True,
        ),
    ]
    ics = feed(events, "North East — Directors of Children's Services", now=NOW)
    assert_wire_format(ics)
    js = ical_js(ics)
    assert js["method"] == "PUBLISH"
    assert js["calname"] == "North East — Directors of Children's Services"
    assert [e["uid"] for e in js["events"]] == [e.uid for e in events]
    assert [e["start"].get("utc") for e in js["events"][:2]] == [
        "2018-11-14T10:00:00Z",
        "2026-07-10T14:00:00Z",
    ]
    assert js["events"][2]["status"] == "CANCELLED"
    assert all(e["attendees"] == [] for e in js["events"])
    py = py_parse(ics)
    assert py["calname"] == js["calname"]
    assert [e["uid"] for e in py["events"]] == [e.uid for e in events]

    empty = feed([], "Nothing yet", now=NOW)
    assert ical_js(empty)["events"] == []
    assert py_parse(empty)["events"] == []
    with pytest.raises(ValueError):
        feed(events, "Bad\r\nX-INJECTED:1")


@given(st.text(min_size=0, max_size=400))
def test_fold_line_round_trips(text: str) -> None:
    line = ("X-TEST:" + text.replace("\r", "").replace("\n", "")).encode("utf-8", "surrogatepass")
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return  # lone surrogates are not text
    folded = fold_line(line)
    assert folded.endswith(b"\r\n")
    physical = folded[:-2].split(b"\r\n")
    assert all(len(p) <= 75 for p in physical)
    assert all(p.startswith(b" ") for p in physical[1:])
    for p in physical:
        p.decode("utf-8")
    assert folded[:-2].replace(b"\r\n ", b"") == line


def test_filenames_are_slugs() -> None:
    assert ics_filename("Regional DCS meeting") == "regional-dcs-meeting.ics"
    assert ics_filename("Café: “Leaders’ Forum” 2026!") == "cafe-leaders-forum-2026.ics"
    assert ics_filename("漢字") == "event.ics"
    assert len(ics_filename("word " * 40)) <= 64


def test_node_parser_is_really_installed(js_dir: Path) -> None:
    assert (js_dir / "node_modules" / "ical.js" / "package.json").is_file()
    assert (js_dir / "node_modules" / "mailparser" / "package.json").is_file()
    assert os.access(js_dir / "ical_times.mjs", os.R_OK)


def test_text_with_line_breaks_cannot_inject_properties(ical_js: IcalJs) -> None:
    title = "Meeting\r\nMETHOD:CANCEL\nATTENDEE:mailto:x@evil.example"
    ics = build_calendar([make_event(title=title, location="Room\r2")], "PUBLISH", now=NOW)
    assert_wire_format(ics)
    names = {line.split(b":", 1)[0].split(b";", 1)[0] for line in unfolded_lines(ics)}
    assert b"ATTENDEE" not in names
    js = ical_js(ics)
    assert js["method"] == "PUBLISH"
    assert js["events"][0]["attendees"] == []
    assert "METHOD:CANCEL" in js["events"][0]["summary"]  # kept as text, escaped
    with pytest.raises(ValueError):
        build_calendar([make_event(url="https://x.example/\r\nX-INJECTED:1")], "PUBLISH")
