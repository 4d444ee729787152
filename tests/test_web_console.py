"""The organiser console: login, updates, previews, events, subscribers, segments, sends.

Every form is posted with the CSRF token taken from the page, as a browser
would; results are checked in the store, in captured mail and in the JSON
the progress page polls.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlalchemy import select
from web_fixtures import (
    ORGANISER,
    PASSWORD,
    add_subscribers,
    app,
    client,
    csrf,
    future_update_md,
    login,
    organiser,
    store_update,
    transport,
)

from newsletter.db import session_scope
from newsletter.dispatch.embedded import run_until_idle
from newsletter.models import EventRecord, Organiser, Segment, Subscriber, Suppression
from newsletter.organisers import set_password
from newsletter.paths import SAMPLES_DIR
from newsletter.transports.memory import InMemoryTransport

__all__ = ["app", "client", "organiser", "transport"]


def _signed_in(client: TestClient) -> TestClient:
    login(client)
    return client


def test_login_logout_and_bad_password(client: TestClient, organiser: str) -> None:
    assert client.get("/console", follow_redirects=False).headers["location"] == (
        "/login?next=%2Fconsole"
    )
    token = csrf(client, "/login")
    wrong = client.post(
        "/login", data={"email": organiser, "password": "nope-nope-nope", "csrf_token": token}
    )
    assert wrong.status_code == 401
    assert "Wrong email address or password" in wrong.text
    unknown = client.post(
        "/login", data={"email": "who@example.org", "password": PASSWORD, "csrf_token": token}
    )
    assert unknown.status_code == 401

    before = client.cookies.get("nl_session")
    login(client)
    assert client.cookies.get("nl_session") != before  # a fresh session: no fixation
    home = client.get("/console")
    assert home.status_code == 200 and ORGANISER in home.text
    logout = client.post("/logout", data={"csrf_token": csrf(client, "/console")})
    assert logout.status_code == 200  # followed to the login page
    assert client.get("/console", follow_redirects=False).status_code == 303


def test_login_next_is_never_an_open_redirect(client: TestClient, organiser: str) -> None:
    for target, expected in (
        ("/console/sends", "/console/sends"),
        ("https://evil.example/", "/console"),
        ("//evil.example/", "/console"),
        ("/\\evil.example", "/console"),
        ("javascript:alert(1)", "/console"),
    ):
        client.cookies.clear()
        token = csrf(client, "/login")
        response = client.post(
            "/login",
            data={"email": organiser, "password": PASSWORD, "csrf_token": token, "next": target},
            follow_redirects=False,
        )
        assert response.headers["location"] == expected
        page = client.get(f"/login?next={target}")
        assert 'name="next" value="' + expected + '"' in page.text


def test_password_change_ends_sessions(client: TestClient, organiser: str) -> None:
    _signed_in(client)
    assert client.get("/console").status_code == 200
    with session_scope() as session:
        found = session.scalars(select(Organiser)).one()
        set_password(session, found, "a brand new password")
    assert client.get("/console", follow_redirects=False).status_code == 303


def test_upload_sample_and_see_events(client: TestClient, organiser: str) -> None:
    _signed_in(client)
    token = csrf(client, "/console/updates")
    sample = SAMPLES_DIR / "north-east-2017-04.txt"
    response = client.post(
        "/console/updates",
        data={"csrf_token": token, "fmt": "auto"},
        files={"file": (sample.name, sample.read_bytes(), "text/plain")},
    )
    assert response.status_code == 201, response.text
    assert "North East Update April 2017" in response.text
    assert "Featured event" in response.text or "featured" in response.text
    assert "Wednesday 14 November 2018" in response.text


def test_paste_bad_update_shows_error(client: TestClient, organiser: str) -> None:
    _signed_in(client)
    token = csrf(client, "/console/updates")
    response = client.post("/console/updates", data={"csrf_token": token, "text": ""})
    assert response.status_code == 400
    assert 'class="alert error"' in response.text


def test_preview_side_by_side(client: TestClient, organiser: str) -> None:
    _signed_in(client)
    update_id = store_update(future_update_md())
    page = client.get(f"/console/updates/{update_id}/preview?segment=lead-member")
    assert page.status_code == 200
    frames = re.findall(r'<iframe[^>]*src="([^"]+)" width="(\d+)"', page.text)
    assert sorted(int(w) for _, w in frames) == [375, 800]
    assert {src for src, _ in frames} == {f"/console/updates/{update_id}/preview/lead-member.html"}
    frame = client.get(frames[0][0])
    assert frame.text.lstrip().startswith("<!DOCTYPE html>")
    assert "%%NL_" not in frame.text
    assert "frame-ancestors 'self'" in frame.headers["Content-Security-Policy"]
    assert client.get(f"/console/updates/{update_id}/preview?segment=nope").status_code == 404


def test_correct_event(client: TestClient, organiser: str) -> None:
    _signed_in(client)
    update_id = store_update(future_update_md())
    with session_scope() as session:
        event = session.scalars(select(EventRecord)).one()
        event_id = event.id
    when = datetime.now(UTC) + timedelta(days=50)
    local = when.astimezone(ZoneInfo("Europe/London")).strftime("%Y-%m-%d")
    token = csrf(client, f"/console/updates/{update_id}")
    response = client.post(
        f"/console/updates/{update_id}/events/{event_id}",
        data={
            "csrf_token": token,
            "title": "Regional DCS meeting (moved)",
            "start": f"{local} 14:00",
            "end": f"{local} 15:30",
            "location": "Newcastle Civic Centre",
        },
    )
    assert response.status_code == 200
    assert "Event saved" in response.text
    with session_scope() as session:
        saved = session.get(EventRecord, event_id)
        assert saved is not None
        event = saved
        assert event.title == "Regional DCS meeting (moved)"
        assert event.location == "Newcastle Civic Centre"
        assert event.start.astimezone(ZoneInfo("Europe/London")).strftime("%H:%M") == "14:00"
        assert event.featured is False  # the box was not ticked
    bad = client.post(
        f"/console/updates/{update_id}/events/{event_id}",
        data={"csrf_token": token, "start": "someday"},
    )
    assert bad.status_code == 400


def test_test_send_to_myself(
    client: TestClient, organiser: str, transport: InMemoryTransport
) -> None:
    _signed_in(client)
    update_id = store_update(future_update_md())
    token = csrf(client, f"/console/updates/{update_id}")
    response = client.post(
        f"/console/updates/{update_id}/test-send",
        data={"csrf_token": token, "segment": "workforce-lead"},
    )
    assert response.status_code == 200
    assert "test copy" in response.text
    [message] = transport.parsed()
    assert message["To"] == ORGANISER
    assert str(message["Subject"]).startswith("[Test] ")


def test_subscribers_search_import_export(client: TestClient, organiser: str) -> None:
    _signed_in(client)
    add_subscribers(3)
    token = csrf(client, "/console/subscribers/import")
    data = (
        "email,name,organisation,roles\n"
        "amy@example.org,Amy,Durham,dcs\n"
        "not-an-address,Bob,Durham,dcs\n"
        "cat@example.org,Cat,Gateshead,lead member\n"
    )
    report = client.post(
        "/console/subscribers/import",
        data={"csrf_token": token},
        files={"file": ("people.csv", data.encode(), "text/csv")},
    )
    assert report.status_code == 200
    rejected = re.search(r'<table id="rejected"[^>]*>(.*?)</table>', report.text, re.S)
    assert rejected and '<td data-label="Line">3</td>' in rejected.group(1)
    # The rejected line's own text is shown beside the reason.
    assert "<code>not-an-address,Bob,Durham,dcs</code>" in rejected.group(1)
    assert "2 new" in report.text

    found = client.get("/console/subscribers?q=gateshead")
    assert "cat@example.org" in found.text and "amy@example.org" not in found.text

    export = client.get("/console/subscribers/export.csv")
    assert export.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert {r["email"] for r in rows} >= {"amy@example.org", "cat@example.org"}
    assert len(rows) == 5

    binary = client.post(
        "/console/subscribers/import",
        data={"csrf_token": token},
        files={"file": ("x.csv", b"\x00\x01", "text/csv")},
    )
    assert binary.status_code == 400


def test_segments_live_count_and_editor(client: TestClient, organiser: str) -> None:
    _signed_in(client)
    add_subscribers(2)
    add_subscribers(3, role="lead-member", prefix="member")
    assert client.get("/console/segments/count?rule=role:dcs").json() == {"ok": True, "count": 2}
    error = client.get("/console/segments/count", params={"rule": "role:dcs and ("}).json()
    assert error["ok"] is False and error["position"] >= 14
    token = csrf(client, "/console/segments")
    created = client.post(
        "/console/segments",
        data={"csrf_token": token, "name": "members", "rule": "role:lead-member"},
    )
    assert created.status_code == 200
    with session_scope() as session:
        assert session.scalars(select(Segment).where(Segment.name == "members")).one()
    bad = client.post(
        "/console/segments", data={"csrf_token": token, "name": "x", "rule": "colour:red"}
    )
    assert bad.status_code == 400 and "Rule, at character" in bad.text
    client.post("/console/segments/members/delete", data={"csrf_token": token})
    with session_scope() as session:
        assert session.scalars(select(Segment).where(Segment.name == "members")).first() is None
    builtin = client.post("/console/segments/dcs/delete", data={"csrf_token": token})
    assert builtin.status_code == 400


def test_schedule_send_and_follow_it(
    client: TestClient, organiser: str, transport: InMemoryTransport
) -> None:
    _signed_in(client)
    add_subscribers(4)
    add_subscribers(2, role="lead-member", prefix="member")
    transport.fail("reader3@example.org", 550)
    update_id = store_update(future_update_md())
    token = csrf(client, f"/console/sends/new?update_id={update_id}")
    form = {"csrf_token": token, "update_id": str(update_id), "segments": ["dcs", "lead-member"]}
    # The form leads to a review: nothing is created until it is confirmed.
    review = client.post("/console/sends/review", data=form)
    assert review.status_code == 200
    assert re.search(r'id="review-total">6 recipients<', review.text)
    assert re.search(r'id="review-when">now<', review.text)
    editions = re.search(
        r'<table class="stack" id="review-editions">(.*?)</table>', review.text, re.S
    )
    assert editions and editions.group(1).count("<tr>") == 3  # header + dcs (4) + lead-member (2)
    assert '<td data-label="Recipients">4</td>' in editions.group(1)
    assert '<td data-label="Recipients">2</td>' in editions.group(1)
    unconfirmed = client.post("/console/sends", data=form)
    assert unconfirmed.status_code == 200 and "Review the send" in unconfirmed.text
    assert client.get("/console/sends/1/progress").status_code == 404
    response = client.post(
        "/console/sends", data={**form, "confirmed": "yes"}, follow_redirects=False
    )
    assert response.status_code == 303
    location = response.headers["location"]
    run_until_idle()
    page = client.get(location)
    assert page.status_code == 200 and 'src="/static/console.js"' in page.text
    progress = client.get(location + "/progress").json()
    assert progress["status"] == "finished"
    assert (progress["planned"], progress["sent"], progress["failed"]) == (6, 5, 1)
    assert progress["sent"] + progress["failed"] + progress["skipped"] == progress["planned"]
    timeline = progress["timeline"]
    assert timeline["sent"][-1] == 5 and timeline["failed"][-1] == 1
    assert timeline["sent"] == sorted(timeline["sent"])  # cumulative
    assert len(transport.messages) == 5
    with session_scope() as session:
        assert session.scalars(select(Suppression)).one().email_key == "reader3@example.org"
        bounced = session.scalars(
            select(Subscriber).where(Subscriber.email_key == "reader3@example.org")
        ).one()
        assert bounced.status == "bounced"


def test_pause_resume_cancel(client: TestClient, organiser: str) -> None:
    _signed_in(client)
    add_subscribers(1)
    update_id = store_update(future_update_md())
    token = csrf(client, "/console/sends/new")
    response = client.post(
        "/console/sends",
        data={
            "csrf_token": token,
            "update_id": str(update_id),
            "segments": ["dcs"],
            "at": "2099-01-01 09:00",
            "confirmed": "yes",
        },
        follow_redirects=False,
    )
    location = response.headers["location"]

    def status() -> str:
        return str(client.get(location + "/progress").json()["status"])

    assert status() == "scheduled"
    client.post(location + "/pause", data={"csrf_token": token})
    assert status() == "paused"
    again = client.post(location + "/pause", data={"csrf_token": token})
    assert again.status_code == 400 and "cannot pause" in again.text
    client.post(location + "/resume", data={"csrf_token": token})
    assert status() == "scheduled"
    client.post(location + "/cancel", data={"csrf_token": token})
    assert status() == "cancelled"
    missing = client.post(
        "/console/sends",
        data={"csrf_token": token, "update_id": str(update_id)},
    )
    assert missing.status_code == 400 and "segment" in missing.text


def test_past_times_refused_send_now_reschedule_and_test_copies(
    client: TestClient, organiser: str, transport: InMemoryTransport
) -> None:
    _signed_in(client)
    add_subscribers(2)
    update_id = store_update(future_update_md())
    token = csrf(client, "/console/sends/new")
    form = {"csrf_token": token, "update_id": str(update_id), "segments": ["dcs"]}
    for path in ("/console/sends/review", "/console/sends"):
        past = client.post(path, data={**form, "at": "2020-01-01 09:00", "confirmed": "yes"})
        assert past.status_code == 400
        assert "Wed 1 Jan 2020, 09:00 UK has already passed" in past.text
    assert client.get("/console/sends/1/progress").status_code == 404

    # Scheduled next year, shown in UK time with the zone named.
    created = client.post(
        "/console/sends",
        data={**form, "at": "2099-06-01T09:00", "confirmed": "yes"},
        follow_redirects=False,
    )
    location = created.headers["location"]
    shown = client.get(location)
    assert "Mon 1 Jun 2099, 09:00 UK" in shown.text and 'value="2099-06-01T09:00"' in shown.text

    # Reschedule: a review of the new time first, then the change.
    review = client.post(
        location + "/reschedule", data={"csrf_token": token, "at": "2099-07-01T10:30"}
    )
    assert "Confirm: reschedule for Wed 1 Jul 2099, 10:30 UK" in review.text
    assert "Mon 1 Jun 2099" in client.get(location).text  # not changed yet
    client.post(
        location + "/reschedule",
        data={"csrf_token": token, "at": "2099-07-01T10:30", "confirmed": "yes"},
    )
    assert (
        client.get(location + "/progress").json()["scheduled_at_uk"] == "Wed 1 Jul 2099, 10:30 UK"
    )
    past = client.post(
        location + "/reschedule",
        data={"csrf_token": token, "at": "2001-01-01T10:30", "confirmed": "yes"},
    )
    assert past.status_code == 400 and "has already passed" in past.text

    # Test copies to a list of addresses, from the send's page.
    tested = client.post(
        "/console/sends/test",
        data={
            "csrf_token": token,
            "update_id": str(update_id),
            "send_id": location.rsplit("/", 1)[1],
            "edition": "dcs",
            "addresses": "ann@example.org, bob@example.org\ncat@example.org",
        },
    )
    assert "sent to ann@example.org, bob@example.org, cat@example.org" in tested.text
    assert [str(m["Subject"]).startswith("[Test]") for m in transport.parsed()] == [True] * 3
    bad = client.post(
        "/console/sends/test",
        data={
            **form,
            "edition": "dcs",
            "addresses": "x@",
        },
    )
    assert bad.status_code == 400 and "test addresses" in bad.text

    # Send now: reviewed, then confirmed; the send goes at once.
    review = client.post(location + "/send-now", data={"csrf_token": token})
    assert "Confirm: send now" in review.text and "2 recipients" in review.text
    assert client.get(location + "/progress").json()["status"] == "scheduled"
    client.post(location + "/send-now", data={"csrf_token": token, "confirmed": "yes"})
    run_until_idle()
    progress = client.get(location + "/progress").json()
    assert (progress["status"], progress["sent"]) == ("finished", 2)


def test_suppression_list(client: TestClient, organiser: str) -> None:
    _signed_in(client)
    token = csrf(client, "/console/suppressions")
    client.post("/console/suppressions", data={"csrf_token": token, "email": "No@Example.org"})
    page = client.get("/console/suppressions?q=example")
    assert "no@example.org" in page.text
    with session_scope() as session:
        row = session.scalars(select(Suppression)).one()
        assert row.reason == "manual"
        row_id = row.id
    bad = client.post("/console/suppressions", data={"csrf_token": token, "email": "nope"})
    assert bad.status_code == 400
    client.post(f"/console/suppressions/{row_id}/delete", data={"csrf_token": token})
    with session_scope() as session:
        assert session.scalars(select(Suppression)).first() is None


def test_forms_refuse_a_missing_csrf_token(client: TestClient, organiser: str) -> None:
    _signed_in(client)
    for path in ("/console/suppressions", "/console/segments", "/console/sends", "/logout"):
        response = client.post(path, data={"email": "x@example.org"})
        assert response.status_code == 403, path


def test_event_change_and_cancel_ask_first(
    client: TestClient, organiser: str, transport: InMemoryTransport
) -> None:
    from web_fixtures import send_now

    _signed_in(client)
    add_subscribers(7)
    update_id = store_update(future_update_md())
    with session_scope() as session:
        event_id = session.scalars(select(EventRecord.id)).one()
    send_now(update_id, ["dcs"])
    transport.clear()
    path = f"/console/updates/{update_id}/events/{event_id}"
    token = csrf(client, f"/console/updates/{update_id}")
    form = {"csrf_token": token, "location": "Newcastle Civic Centre", "message": "New room!"}
    asked = client.post(path, data=form)
    # "Save event" shows who is told and the notice; nothing is changed or sent yet.
    assert asked.status_code == 200
    assert "7 people will be notified" in asked.text
    assert "Reader, Reader" in asked.text and "and 2 others" in asked.text
    assert "Updated: Regional DCS meeting" in asked.text and "New room!" in asked.text
    assert 'name="notify" value="no"' in asked.text
    with session_scope() as session:
        assert session.get_one(EventRecord, event_id).location == "Durham County Hall"
    assert transport.messages == []
    done = client.post(path, data={**form, "notify": "yes", "confirm": "yes"})
    assert done.status_code == 200 and "7 people who have it get an update" in done.text
    run_until_idle()
    notices = transport.parsed()
    assert len(notices) == 7
    body = notices[0].get_body(("plain",))
    assert body is not None and "New room!" in body.get_content()

    # Cancelling always asks; "don't notify" cancels without sending anything.
    transport.clear()
    cancel_path = f"{path}/cancel"
    asked = client.post(cancel_path, data={"csrf_token": token})
    assert asked.status_code == 200 and "Confirm: cancel the event" in asked.text
    with session_scope() as session:
        assert session.get_one(EventRecord, event_id).cancelled is False
    done = client.post(cancel_path, data={"csrf_token": token, "notify": "no", "confirm": "yes"})
    assert done.status_code == 200 and "nobody was notified" in done.text
    run_until_idle()
    assert transport.messages == []
    with session_scope() as session:
        assert session.get_one(EventRecord, event_id).cancelled is True
    page = client.get(f"/console/events/{event_id}/attendees")
    assert page.status_code == 200 and "7 no reply" in page.text
    assert client.get("/console/events/999999/attendees").status_code == 404
