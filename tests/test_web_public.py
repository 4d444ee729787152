"""Public pages: double opt-in, preferences, RFC 8058 unsubscribe, archive, events, feeds.

Emails are captured by the in-memory transport and parsed; calendars are
parsed with ``icalendar``; every answer is checked for its status and for
what it changed in the store.
"""

from __future__ import annotations

import re
from datetime import timedelta
from email import message_from_bytes
from email.policy import default as default_policy

import icalendar
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from web_fixtures import (
    add_subscribers,
    app,
    client,
    csrf,
    future_update_md,
    login,
    organiser,
    send_now,
    store_update,
    transport,
)

from newsletter import suppressions
from newsletter.db import session_scope
from newsletter.dispatch.queue import in_process_queue
from newsletter.models import EventRecord, Subscriber, Suppression
from newsletter.tokens import (
    CONFIRM,
    TTL,
    UNSUBSCRIBE,
    make_token,
    preferences_url,
    unsubscribe_url,
)
from newsletter.transports.memory import InMemoryTransport

__all__ = ["app", "client", "organiser", "transport"]  # fixtures, imported for pytest


def _subscriber(email: str) -> Subscriber:
    with session_scope() as session:
        found = session.scalars(select(Subscriber).where(Subscriber.email_key == email)).one()
        _ = found.roles
        return found


def _path(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def _subscribe(client: TestClient, email: str, **fields: str) -> None:
    token = csrf(client, "/subscribe")
    response = client.post(
        "/subscribe", data={"email": email, "csrf_token": token, **fields}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/subscribe/check-your-email"
    in_process_queue().drain()  # the queued task stores the subscriber and sends the mail


def _confirm_link(transport: InMemoryTransport, address: str) -> str:
    messages = transport.sent_to(address)
    assert len(messages) == 1
    parsed = message_from_bytes(messages[0].data, policy=default_policy)
    assert parsed["Message-ID"] and parsed["Date"]
    assert parsed["Subject"] == "Please confirm your subscription"
    body = parsed.get_body(("plain",))
    assert body is not None
    found = re.search(r"https?://\S+/confirm/\S+", body.get_content())
    assert found
    return _path(found.group(0))


def test_double_opt_in(client: TestClient, transport: InMemoryTransport) -> None:
    _subscribe(
        client, "Jane@Example.org", name="Jane Smith", organisation="Durham", role="lead-member"
    )
    pending = _subscriber("jane@example.org")
    assert pending.status == "pending"
    assert pending.role_names == ["lead-member"]
    assert pending.organisation == "Durham"
    link = _confirm_link(transport, "Jane@Example.org")

    # Opening the link changes nothing: mail scanners open links.
    page = client.get(link)
    assert page.status_code == 200
    assert 'action="' + link + '"' in page.text
    assert _subscriber("jane@example.org").status == "pending"

    done = TestClient(client.app).post(link)  # no cookies needed
    assert done.status_code == 200
    active = _subscriber("jane@example.org")
    assert active.status == "active"
    assert active.confirmed_at is not None
    assert active.consent_source == "web form, double opt-in"
    assert active.consent_ip == "testclient"


def test_subscribe_does_not_reveal_or_overwrite(
    client: TestClient, transport: InMemoryTransport
) -> None:
    add_subscribers(1, prefix="known")
    _subscribe(client, "known0@example.org", name="Mallory", organisation="Elsewhere")
    # An active subscriber gets no email, the same answer, and keeps their profile.
    assert transport.sent_to("known0@example.org") == []
    assert _subscriber("known0@example.org").name == "Reader 0"
    with session_scope() as session:
        session.add(Suppression(email_key="blocked@example.org", reason="bounce"))
    _subscribe(client, "blocked@example.org")
    assert transport.sent_to("blocked@example.org") == []


def test_subscribe_validation_and_csrf(client: TestClient) -> None:
    token = csrf(client, "/subscribe")
    bad = client.post("/subscribe", data={"email": "not an address", "csrf_token": token})
    assert bad.status_code == 400
    assert 'aria-invalid="true"' in bad.text
    forged = TestClient(client.app).post("/subscribe", data={"email": "x@example.org"})
    assert forged.status_code == 403


def test_subscribe_is_rate_limited(client: TestClient) -> None:
    limiter = client.app.state.subscribe_limiter  # type: ignore[attr-defined]
    limiter.limit = 3
    token = csrf(client, "/subscribe")
    codes = [
        client.post(
            "/subscribe",
            data={"email": f"p{i}@example.org", "csrf_token": token},
            follow_redirects=False,
        ).status_code
        for i in range(5)
    ]
    assert codes == [303, 303, 303, 429, 429]
    last = client.post("/subscribe", data={"email": "q@example.org", "csrf_token": token})
    assert int(last.headers["Retry-After"]) >= 1


def test_confirm_link_tampered_or_expired_is_400(client: TestClient) -> None:
    add_subscribers(1)
    subscriber = _subscriber("reader0@example.org")
    good = make_token(CONFIRM, subscriber.id, ttl=TTL[CONFIRM])
    tampered = good[:-2] + ("AA" if not good.endswith("AA") else "BB")
    expired = make_token(
        CONFIRM,
        subscriber.id,
        ttl=timedelta(hours=1),
        now=subscriber.created_at - timedelta(days=3),
    )
    wrong_purpose = make_token(UNSUBSCRIBE, subscriber.id, ttl=TTL[UNSUBSCRIBE])
    for token, words in ((tampered, "not valid"), (expired, "expired"), (wrong_purpose, "valid")):
        for method in ("GET", "POST"):
            response = client.request(method, f"/confirm/{token}")
            assert response.status_code == 400
            assert words in response.text


def test_preferences_change_and_unsubscribe(client: TestClient) -> None:
    add_subscribers(1)
    subscriber = _subscriber("reader0@example.org")
    path = _path(preferences_url(subscriber.id))
    page = client.get(path)
    assert page.status_code == 200
    assert "reader0@example.org" in page.text
    assert page.headers["Cache-Control"] == "no-store"

    saved = client.post(
        path,
        data={"action": "save", "roles": ["lead-member", "workforce-lead"], "organisation": "NT"},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    after = _subscriber("reader0@example.org")
    assert after.role_names == ["lead-member", "workforce-lead"]
    assert after.organisation == "NT"
    assert after.reminders_enabled is False  # the box was not ticked

    client.post(path, data={"action": "save", "reminders": "on", "roles": ["dcs"]})
    assert _subscriber("reader0@example.org").reminders_enabled is True

    client.post(path, data={"action": "unsubscribe"})
    assert _subscriber("reader0@example.org").status == "unsubscribed"
    again = client.get(path)
    assert "Subscribe again" in again.text
    client.post(path, data={"action": "resubscribe"})
    assert _subscriber("reader0@example.org").status == "active"


@pytest.mark.parametrize("status", ["bounced", "complained", "unsubscribed"])
def test_a_suppressed_address_is_not_resubscribed_from_its_preferences_page(
    client: TestClient, status: str
) -> None:
    """Mail bounced, was reported as spam, or an organiser stopped it: an old link
    cannot undo that, whatever the subscriber's status says."""
    add_subscribers(1)
    with session_scope() as session:
        subscriber = session.scalars(
            select(Subscriber).where(Subscriber.email_key == "reader0@example.org")
        ).one()
        subscriber.status = status
        suppressions.add_suppression(session, "reader0@example.org", "manual", "test")
        path = _path(preferences_url(subscriber.id))
    page = client.get(path)
    assert page.status_code == 200
    assert "Subscribe again" not in page.text
    assert "contact the organisers" in page.text
    answer = client.post(path, data={"action": "resubscribe"})
    assert answer.status_code == 200
    assert "cannot be subscribed again from here" in answer.text
    assert _subscriber("reader0@example.org").status == status


def test_one_click_unsubscribe_rfc8058(app: object, client: TestClient) -> None:
    add_subscribers(1)
    subscriber = _subscriber("reader0@example.org")
    path = _path(unsubscribe_url(subscriber.id, send_id=7))

    # GET shows a button and never unsubscribes (link scanners prefetch).
    for _ in range(2):
        page = client.get(path)
        assert page.status_code == 200
        assert 'name="List-Unsubscribe" value="One-Click"' in page.text
    assert _subscriber("reader0@example.org").status == "active"

    # A mail client's POST: no cookies, no CSRF token, form-encoded body.
    mail_client = TestClient(client.app, cookies=None)
    for _ in range(2):  # idempotent
        response = mail_client.post(
            path,
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            follow_redirects=False,
        )
        assert response.status_code == 200
        assert "location" not in response.headers
        assert _subscriber("reader0@example.org").status == "unsubscribed"

    multipart = mail_client.post(path, files={"List-Unsubscribe": (None, "One-Click")})
    assert multipart.status_code == 200


def test_unsubscribe_bad_tokens(client: TestClient) -> None:
    add_subscribers(1)
    subscriber = _subscriber("reader0@example.org")
    token = unsubscribe_url(subscriber.id).rsplit("/", 1)[1]
    flipped = token[:5] + ("A" if token[5] != "A" else "B") + token[6:]
    for bad in (flipped, "nonsense", token + "x"):
        assert client.post(f"/u/{bad}").status_code == 400
        assert client.get(f"/u/{bad}").status_code == 400
    assert _subscriber("reader0@example.org").status == "active"
    # A test copy's link (subscriber 0) unsubscribes nobody, yet answers 200.
    assert client.post(_path(unsubscribe_url(0))).status_code == 200


def test_archive_lists_only_sent_updates(client: TestClient, transport: InMemoryTransport) -> None:
    add_subscribers(2)
    draft = store_update(future_update_md(title="Draft update"))
    sent = store_update(future_update_md(title="Sent update"))
    send_now(sent, ["dcs"])
    assert len(transport.messages) == 2

    listing = client.get("/archive")
    assert f'href="/archive/{sent}"' in listing.text
    assert f'href="/archive/{draft}"' not in listing.text
    assert client.get(f"/archive/{draft}").status_code == 404

    page = client.get(f"/archive/{sent}")
    assert page.status_code == 200
    assert page.text.lstrip().startswith("<!DOCTYPE html>")
    assert "Sent update" in page.text
    assert "%%NL_" not in page.text
    assert "/u/" not in page.text and "/preferences/" not in page.text
    assert "Hello," in page.text
    assert "script-src" not in page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]


def test_event_pages_ics_and_feeds(client: TestClient, transport: InMemoryTransport) -> None:
    add_subscribers(1)
    add_subscribers(1, role="lead-member", prefix="member")
    update_id = store_update(future_update_md())
    with session_scope() as session:
        event = session.scalars(select(EventRecord).where(EventRecord.update_id == update_id)).one()
        event_id, uid = event.id, event.uid
    assert client.get(f"/events/{event_id}").status_code == 404  # not sent yet
    send_now(update_id, ["dcs"])

    page = client.get(f"/events/{event_id}")
    assert page.status_code == 200
    assert "calendar.google.com" in page.text and "outlook.office.com" in page.text
    assert f"/events/{event_id}.ics" in page.text

    ics = client.get(f"/events/{event_id}.ics")
    assert ics.headers["content-type"].startswith("text/calendar")
    assert "attachment" in ics.headers["content-disposition"]
    calendar = icalendar.Calendar.from_ical(ics.content)
    assert calendar["METHOD"] == "PUBLISH"
    events = calendar.walk("VEVENT")
    assert [str(e["UID"]) for e in events] == [uid]

    # The email's calendar part carries the same UID.
    mail = transport.parsed()[0]
    parts = [p for p in mail.walk() if p.get_content_type() == "text/calendar"]
    assert (
        parts
        and str(icalendar.Calendar.from_ical(parts[0].get_content()).walk("VEVENT")[0]["UID"])
        == uid
    )

    feed = icalendar.Calendar.from_ical(client.get("/calendar/dcs.ics").content)
    assert [str(e["UID"]) for e in feed.walk("VEVENT")] == [uid]
    other = icalendar.Calendar.from_ical(client.get("/calendar/lead-member.ics").content)
    assert other.walk("VEVENT") == []  # that update was not sent to lead members
    assert client.get("/calendar/nonexistent.ics").status_code == 404


def test_a_private_event_reaches_only_organisers_and_no_cache(
    client: TestClient, organiser: str
) -> None:
    update_id = store_update(future_update_md())
    with session_scope() as session:
        event_id = session.scalars(
            select(EventRecord.id).where(EventRecord.update_id == update_id)
        ).one()
    assert client.get(f"/events/{event_id}.ics").status_code == 404  # not sent: private
    login(client)
    ics = client.get(f"/events/{event_id}.ics")
    assert ics.status_code == 200 and ics.headers["cache-control"] == "no-store"


def test_feeds_are_named_after_the_network_that_sends_them(
    client: TestClient, transport: InMemoryTransport
) -> None:
    add_subscribers(1)
    send_now(store_update(future_update_md()), ["dcs"])
    settings = client.app.state.settings  # type: ignore[attr-defined]
    network = settings.from_address.split("<")[0].strip()
    feed = icalendar.Calendar.from_ical(client.get("/calendar/dcs.ics").content)
    assert str(feed["X-WR-CALNAME"]) == f"{network}: Directors of children's services"
    public_ics = client.get("/events/" + _first_event_id() + ".ics")
    assert "cache-control" not in public_ics.headers  # a published event may be cached


def _first_event_id() -> str:
    with session_scope() as session:
        return str(session.scalars(select(EventRecord.id)).first())


@pytest.mark.parametrize(
    "path", ["/", "/subscribe", "/archive", "/calendar", "/preferences", "/login"]
)
def test_security_headers(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    headers = response.headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Frame-Options"] == "SAMEORIGIN"
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert "'unsafe-inline'" not in headers["Content-Security-Policy"]
    cookie = headers.get("set-cookie", "")
    if cookie:
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")


def test_preferences_link_request(client: TestClient, transport: InMemoryTransport) -> None:
    add_subscribers(1)
    token = csrf(client, "/preferences")
    for address in ("reader0@example.org", "stranger@example.org"):
        response = client.post("/preferences", data={"email": address, "csrf_token": token})
        assert response.status_code == 200
        assert "If this address is on our list" in response.text
    in_process_queue().drain()
    assert len(transport.sent_to("reader0@example.org")) == 1
    assert transport.sent_to("stranger@example.org") == []
    body = transport.parsed()[0].get_body(("plain",))
    assert body is not None and "/preferences/" in body.get_content()


def test_calendar_page_offers_webcal_and_google_subscriptions(client: TestClient) -> None:
    from html.parser import HTMLParser
    from urllib.parse import parse_qs, urlsplit

    class Links(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.hrefs: list[str] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            href = dict(attrs).get("href")
            if tag == "a" and href:
                self.hrefs.append(href)

    page = client.get("/calendar")
    assert page.status_code == 200
    links = Links()
    links.feed(page.text)
    host = urlsplit(client.app.state.settings.base_url).netloc  # type: ignore[attr-defined]
    assert f"webcal://{host}/calendar/dcs.ics" in links.hrefs
    google = [h for h in links.hrefs if h.startswith("https://calendar.google.com/")]
    subscribed = [parse_qs(urlsplit(g).query)["cid"][0] for g in google]
    assert f"webcal://{host}/calendar/dcs.ics" in subscribed
    assert len(subscribed) == len([h for h in links.hrefs if h.startswith("webcal://")])
    # The webcal address is the same feed served over http(s).
    assert client.get("/calendar/dcs.ics").headers["content-type"].startswith("text/calendar")


def test_feeds_public_segments_only_and_all_holds_every_public_event(
    client: TestClient, transport: InMemoryTransport
) -> None:
    from newsletter import segments

    add_subscribers(1)
    add_subscribers(1, role="lead-member", prefix="member")
    with session_scope() as session:
        segments.add(session, "just-me", "organisation:Nobody")  # private by default
        segments.add(session, "open-group", "role:lead-member", public=True)
    to_dcs = store_update(future_update_md(days=20, title="For directors"))
    to_members = store_update(future_update_md(days=30, title="For members"))
    send_now(to_dcs, ["dcs"])
    send_now(to_members, ["lead-member"])
    listing = client.get("/calendar").text
    assert "/calendar/dcs.ics" in listing and "/calendar/open-group.ics" in listing
    assert "just-me" not in listing
    assert client.get("/calendar/just-me.ics").status_code == 404
    # "Everyone subscribed" holds every public event, whichever role it went to.
    everyone = icalendar.Calendar.from_ical(client.get("/calendar/all.ics").content)
    assert len(everyone.walk("VEVENT")) == 2
    dcs = icalendar.Calendar.from_ical(client.get("/calendar/dcs.ics").content)
    assert len(dcs.walk("VEVENT")) == 1
    # An organiser may publish a segment's feed later.
    with session_scope() as session:
        segments.set_public(session, "just-me", True)
    assert client.get("/calendar/just-me.ics").status_code == 200
    body = client.get("/calendar/all.ics").content
    assert b"\r\nREFRESH-INTERVAL;VALUE=DURATION:PT12H\r\n" in body
    assert b"\r\nX-PUBLISHED-TTL:PT12H\r\n" in body
