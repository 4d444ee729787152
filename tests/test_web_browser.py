"""End to end in real headless Chromium (Debian's /usr/bin/chromium driven by playwright).

The app runs under uvicorn in a thread on a free loopback port, with the
embedded worker, on a fresh SQLite store; mail goes to the in-memory
transport, where the tests read it like a subscriber would.  Screenshots of
the main pages go to ``test-output/web/``.  Any console error (a CSP
violation, a failed script) fails the test.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from playwright.sync_api import Browser, ConsoleMessage, Page, expect
from smtp_server import free_port
from sqlalchemy import select
from web_fixtures import (
    ORGANISER,
    PASSWORD,
    add_subscribers,
    future_update_md,
    organiser,
    transport,
)

from newsletter.config import reset_settings
from newsletter.db import session_scope
from newsletter.dispatch.control import start_if_due
from newsletter.imports import create_job
from newsletter.models import Subscriber
from newsletter.paths import SAMPLES_DIR
from newsletter.sends import create_send
from newsletter.transports.memory import InMemoryTransport
from newsletter.updates import ingest
from newsletter.web import create_app

pytestmark = [
    pytest.mark.browser,
    # One database is enough to drive the pages; the store itself is tested on both.
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]
__all__ = ["organiser", "transport"]

OUTPUT = Path(__file__).resolve().parent.parent / "test-output" / "web"


@pytest.fixture
def server(
    database_url: str, transport: InMemoryTransport, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """The app served by uvicorn on 127.0.0.1 with the embedded worker; yields its base URL."""
    del database_url, transport
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("NEWSLETTER_BASE_URL", base)  # links in emails lead to this server
    reset_settings()
    app = create_app(start_worker=True, worker_interval=0.3)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    uvicorn_server = uvicorn.Server(config)
    thread = threading.Thread(target=uvicorn_server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uvicorn_server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield base
    uvicorn_server.should_exit = True
    thread.join(timeout=30)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context; console errors are collected and must stay empty."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    tab.on("console", on_console)
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    context.close()
    assert errors == [], errors


def _shot(page: Page, name: str) -> None:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / f"{name}.png"), full_page=True)


def _wait_for(condition: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


def _mail(transport: InMemoryTransport, address: str, subject_part: str) -> EmailMessage:
    def found() -> EmailMessage | None:
        for message in transport.sent_to(address):
            parsed = message_from(message.data)
            if subject_part in str(parsed["Subject"]):
                return parsed
        return None

    result: EmailMessage = _wait_for(found)
    return result


def message_from(data: bytes) -> EmailMessage:
    """Parse a captured message."""
    from email import message_from_bytes

    parsed = message_from_bytes(data, policy=default_policy)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _subscriber(address: str) -> Subscriber:
    with session_scope() as session:
        found = session.scalars(select(Subscriber).where(Subscriber.email_key == address)).one()
        _ = found.roles
        return found


def test_visitor_subscribes_confirms_changes_preferences_unsubscribes(
    server: str, page: Page, transport: InMemoryTransport
) -> None:
    page.goto(f"{server}/subscribe")
    _shot(page, "subscribe")
    page.get_by_label("Your name").fill("Jane Smith")
    page.get_by_label("Email address").fill("jane@example.org")
    page.get_by_label("Organisation").fill("Durham County Council")
    page.get_by_label("Your role").select_option("lead-member")
    page.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    assert _subscriber("jane@example.org").status == "pending"

    confirmation = _mail(transport, "jane@example.org", "confirm")
    body = confirmation.get_body(("plain",))
    assert body is not None
    link = next(w for w in body.get_content().split() if "/confirm/" in w)
    assert link.startswith(server)
    page.goto(link)
    _shot(page, "confirm")
    assert _subscriber("jane@example.org").status == "pending"  # opening the link is not enough
    page.get_by_role("button", name="Confirm my subscription").click()
    expect(page.get_by_role("heading", name="You are subscribed")).to_be_visible()
    confirmed = _subscriber("jane@example.org")
    assert confirmed.status == "active" and confirmed.consent_ip == "127.0.0.1"

    page.get_by_role("link", name="Choose what you receive").click()
    expect(page.get_by_role("heading", name="Your preferences")).to_be_visible()
    page.get_by_label("Workforce leads").check()
    page.get_by_label("Send me event reminders").uncheck()
    page.get_by_label("Organisation").fill("Gateshead Council")
    _shot(page, "preferences")
    page.get_by_role("button", name="Save preferences").click()
    expect(page.get_by_text("Your preferences are saved")).to_be_visible()
    changed = _subscriber("jane@example.org")
    assert changed.role_names == ["lead-member", "workforce-lead"]
    assert changed.organisation == "Gateshead Council"
    assert changed.reminders_enabled is False

    # A newsletter arrives; its List-Unsubscribe link is what a mail client would use.
    with session_scope() as session:
        record, _ = ingest(session, future_update_md().encode(), "update.md")
        send_id = create_send(session, update_id=record.id, segments=["lead-member"]).id
    start_if_due(send_id)
    newsletter = _mail(transport, "jane@example.org", "North East Update")
    header = str(newsletter["List-Unsubscribe"])
    unsubscribe = header.split("<", 1)[1].split(">", 1)[0]
    assert unsubscribe.startswith(f"{server}/u/")
    page.goto(unsubscribe)
    _shot(page, "unsubscribe")
    assert _subscriber("jane@example.org").status == "active"
    page.get_by_role("button", name="Unsubscribe").click()
    expect(page.get_by_role("heading", name="You are unsubscribed")).to_be_visible()
    assert _subscriber("jane@example.org").status == "unsubscribed"

    page.goto(f"{server}/archive")
    page.get_by_role("link", name="North East Update").click()
    expect(page.get_by_text("Welcome to the update.", exact=True)).to_be_visible()
    _shot(page, "archive-update")


def test_organiser_uploads_previews_schedules_and_watches(
    server: str, page: Page, organiser: str, transport: InMemoryTransport
) -> None:
    add_subscribers(12)
    add_subscribers(5, role="lead-member", prefix="member")
    transport.fail("reader7@example.org", 550)

    page.goto(f"{server}/console")
    expect(page.get_by_role("heading", name="Organiser sign in")).to_be_visible()
    page.get_by_label("Email address").fill(ORGANISER)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Console")).to_be_visible()

    page.get_by_role("link", name="Updates", exact=True).click()
    sample = SAMPLES_DIR / "north-east-2017-04.txt"
    page.get_by_label("Upload a file").set_input_files(str(sample))
    page.get_by_role("button", name="Ingest").click()
    expect(page.get_by_role("heading", name="North East Update April 2017")).to_be_visible()
    _shot(page, "console-update")

    page.get_by_role("link", name="Preview").click()
    page.get_by_label("Edition for").select_option("lead-member")
    page.get_by_role("button", name="Show").click()
    for label in ("Phone", "Desktop"):
        frame = page.frame_locator(f'iframe[title^="{label} preview"]')
        expect(frame.get_by_text("Teaching Partnership").first).to_be_visible()
    widths = page.eval_on_selector_all("iframe", "els => els.map(e => e.clientWidth)")
    assert sorted(widths) == [375, 800]
    _shot(page, "console-preview")

    link = page.get_by_role("link", name="Schedule a send")
    # Headless Chromium hit-tests a click below sandboxed iframes wrongly unless the
    # target was scrolled into view first (the click is then silently lost).
    link.scroll_into_view_if_needed()
    link.click()
    page.wait_for_url("**/console/sends/new**")
    page.get_by_label("dcs —").check()
    page.get_by_label("lead-member —").check()
    _shot(page, "console-schedule")
    page.get_by_role("button", name="Review").click()
    expect(page.locator("#review-total")).to_have_text("17 recipients")
    _shot(page, "console-review")
    page.get_by_role("button", name="Confirm: send now").click()
    expect(page.locator("#status")).to_have_text("finished", timeout=60_000)
    expect(page.locator("#planned")).to_have_text("17")
    expect(page.locator("#sent")).to_have_text("16")
    expect(page.locator("#failed")).to_have_text("1")
    assert page.locator("#chart polyline.sent").count() == 1
    # A finished send offers no pause or cancel.
    expect(page.get_by_role("button", name="Pause")).to_be_hidden()
    expect(page.get_by_role("button", name="Cancel")).to_be_hidden()
    _shot(page, "console-send-finished")
    assert len(transport.messages) == 16


def test_segment_editor_live_count(server: str, page: Page, organiser: str) -> None:
    add_subscribers(3)
    add_subscribers(2, role="lead-member", prefix="member")
    page.goto(f"{server}/login?next=/console/segments")
    page.get_by_label("Email address").fill(ORGANISER)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Segments")).to_be_visible()
    rule = page.get_by_label("Rule", exact=True)
    rule.fill("role:dcs or role:lead-member")
    expect(page.locator("#rule-count")).to_have_text("5 active subscribers")
    rule.fill("role:dcs and (")
    expect(page.locator("#rule-count")).to_contain_text("At character")
    _shot(page, "console-segments")


def test_phone_layout_has_no_horizontal_scroll(server: str, browser: Browser) -> None:
    context = browser.new_context(viewport={"width": 375, "height": 800})
    tab = context.new_page()
    for path in ("/subscribe", "/login", "/calendar"):
        tab.goto(server + path)
        overflow = tab.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, path
    _shot(tab, "subscribe-phone")
    context.close()


def _console_pages(ids: dict[str, str]) -> list[str]:
    """Every console page (GET routes answering HTML) with its path parameters filled in."""
    from fastapi.responses import HTMLResponse
    from fastapi.routing import APIRoute, iter_route_contexts

    paths: list[str] = []
    for route in iter_route_contexts(create_app(start_worker=False).routes):
        original = route.original_route
        template = route.path or ""
        if not isinstance(original, APIRoute) or not template.startswith("/console"):
            continue
        if "GET" not in (route.methods or set()) or original.response_class is not HTMLResponse:
            continue
        path = template
        for name, value in ids.items():
            path = path.replace("{" + name + "}", value)
        assert "{" not in path, f"no value for a parameter of {template}"
        paths.append(path)
    return sorted(set(paths))


def _sign_in(tab: Page, server: str) -> None:
    tab.goto(f"{server}/login")
    tab.get_by_label("Email address").fill(ORGANISER)
    tab.get_by_label("Password").fill(PASSWORD)
    tab.get_by_role("button", name="Sign in").click()
    expect(tab.get_by_role("heading", name="Console")).to_be_visible()


def test_every_console_page_fits_a_390px_phone(
    server: str, browser: Browser, organiser: str, transport: InMemoryTransport
) -> None:
    add_subscribers(6)
    transport.fail("reader3@example.org", 550, "5.1.1 <reader3@example.org>: mailbox unknown")
    with session_scope() as session:
        record, _ = ingest(session, future_update_md().encode(), "update.md")
        update_id = record.id
        event_id = record.events[0].id
        send_id = create_send(session, update_id=update_id, segments=["dcs"]).id
        reader = session.scalars(
            select(Subscriber.id).where(Subscriber.email_key == "reader3@example.org")
        ).one()
        # A queued import job, for its progress page.
        job_id = create_job(
            session, "email,name\nnew@example.org,New\n", "phone.csv", created_by=None
        ).id
    start_if_due(send_id)

    def finished() -> bool:
        from newsletter.sends import get_send

        with session_scope() as session:
            return get_send(session, send_id).status == "finished"

    _wait_for(finished)
    ids = {
        "update_id": str(update_id),
        "send_id": str(send_id),
        "subscriber_id": str(reader),
        "event_id": str(event_id),
        "segment": "dcs",
        "job_id": str(job_id),
    }
    pages = _console_pages(ids)
    assert len(pages) >= 12, pages
    context = browser.new_context(viewport={"width": 390, "height": 844})
    tab = context.new_page()
    _sign_in(tab, server)
    too_wide = {}
    for path in pages:
        response = tab.goto(server + path)
        assert response is not None and response.status == 200, path
        overflow = tab.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        if overflow > 0:
            too_wide[path] = overflow
        name = "phone" + path.replace("/", "-").replace(".", "-")
        _shot(tab, name)
    context.close()
    assert too_wide == {}, too_wide


@pytest.mark.parametrize("viewport", [(390, 844), (1280, 900)], ids=["phone", "desktop"])
def test_organiser_reviews_reschedules_sends_now_reads_report_and_unsubscribes(
    server: str,
    browser: Browser,
    organiser: str,
    transport: InMemoryTransport,
    viewport: tuple[int, int],
) -> None:
    size = "phone" if viewport[0] < 500 else "desktop"
    add_subscribers(5)
    transport.fail("reader1@example.org", 550, "5.1.1 <reader1@example.org>: user unknown")
    with session_scope() as session:
        record, _ = ingest(session, future_update_md().encode(), "update.md")
        update_id = record.id
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    _sign_in(tab, server)

    # Schedule for next year: the review shows the UK time and counts; confirm it.
    tab.goto(f"{server}/console/sends/new?update_id={update_id}")
    tab.get_by_label("dcs —").check()
    tab.get_by_label("When, in UK time").fill("2099-10-20T09:00")
    tab.get_by_role("button", name="Review").click()
    expect(tab.locator("#review-when")).to_have_text("Tue 20 Oct 2099, 09:00 UK")
    expect(tab.locator("#review-total")).to_have_text("5 recipients")
    _shot(tab, f"daily-review-{size}")
    tab.get_by_role("button", name="Confirm: schedule for Tue 20 Oct 2099, 09:00 UK").click()
    expect(tab.locator("#status")).to_have_text("scheduled")
    expect(tab.locator("#scheduled")).to_have_text("Tue 20 Oct 2099, 09:00 UK")

    # Reschedule it, then send it now; each change is reviewed first.
    tab.get_by_text("Reschedule", exact=True).click()
    tab.get_by_label("New time, in UK time").fill("2099-11-02T14:30")
    tab.get_by_role("button", name="Review the new time").click()
    tab.get_by_role("button", name="Confirm: reschedule for Mon 2 Nov 2099, 14:30 UK").click()
    expect(tab.locator("#scheduled")).to_have_text("Mon 2 Nov 2099, 14:30 UK")
    tab.get_by_role("button", name="Send now").click()
    expect(tab.locator("#review-when")).to_have_text("now")
    tab.get_by_role("button", name="Confirm: send now").click()
    expect(tab.locator("#status")).to_have_text("finished", timeout=30_000)
    _shot(tab, f"daily-send-{size}")

    # Who did not get it, and why.
    tab.reload()
    expect(tab.locator("#reasons")).to_contain_text("1 address does not exist")
    tab.get_by_role("link", name="Only those who did not get it").click()
    rows = tab.locator("#recipients tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("reader1@example.org")
    expect(rows.first).to_contain_text("550 5.1.1")
    _shot(tab, f"daily-report-{size}")
    overflow = tab.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0

    # Open one subscriber's page from the report's list and unsubscribe them.
    tab.goto(f"{server}/console/subscribers?q=reader2")
    tab.get_by_role("link", name="reader2@example.org").click()
    expect(tab.locator("#status")).to_have_text("active")
    tab.get_by_role("button", name="Unsubscribe").click()
    expect(tab.locator("#status")).to_have_text("unsubscribed")
    expect(tab.locator("#history")).to_contain_text(f"console: {ORGANISER}")
    _shot(tab, f"daily-subscriber-{size}")
    assert _subscriber("reader2@example.org").status == "unsubscribed"
    context.close()
    assert errors == [], errors


def test_a_451_looping_address_delays_no_other_send(
    server: str,
    browser: Browser,
    organiser: str,
    transport: InMemoryTransport,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from newsletter.dispatch.queue import in_process_queue
    from newsletter.models import Delivery

    # The stuck address's retry would come 30 to 60 s later: far beyond this test.
    monkeypatch.setenv("NEWSLETTER_RETRY_BASE_SECONDS", "60")
    reset_settings()
    add_subscribers(3)
    add_subscribers(1, role="lead-member", prefix="stuck")
    transport.fail("stuck0@example.org", 451, "4.2.1 mailbox busy, try later")
    with session_scope() as session:
        record, _ = ingest(session, future_update_md().encode(), "update.md")
        update_id = record.id
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    _sign_in(tab, server)
    try:

        def send(segment: str) -> str:
            tab.goto(f"{server}/console/sends/new?update_id={update_id}")
            tab.get_by_label(f"{segment} —").check()
            tab.get_by_role("button", name="Review").click()
            tab.get_by_role("button", name="Confirm: send now").click()
            tab.wait_for_url("**/console/sends/*")
            return tab.url

        stuck_url = send("lead-member")

        def retrying() -> bool:
            with session_scope() as session:
                row = session.scalars(
                    select(Delivery).where(Delivery.segment == "lead-member")
                ).first()
                return row is not None and row.attempts == 1 and row.status == "pending"

        _wait_for(retrying)
        send("dcs")
        # The page polls every 1.5 s; the send itself takes well under a second.
        expect(tab.locator("#status")).to_have_text("finished", timeout=5_000)
        expect(tab.locator("#sent")).to_have_text("3")
        tab.goto(stuck_url + "/recipients")
        row = tab.locator("#recipients tbody tr").first
        expect(row).to_contain_text("retrying")
        expect(row).to_contain_text("4.2.1 mailbox busy")
        _shot(tab, "console-retrying")
        tab.goto(stuck_url)
        expect(tab.locator("#status")).to_have_text("sending")
        tab.get_by_role("button", name="Cancel").click()
        expect(tab.locator("#status")).to_have_text("cancelled")
    finally:
        context.close()
        in_process_queue().clear()  # the cancelled send's delayed retry


def test_organiser_corrects_a_section_audience_and_the_preview_follows(
    server: str, page: Page, organiser: str
) -> None:
    page.goto(f"{server}/console")
    page.get_by_label("Email address").fill(ORGANISER)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Console")).to_be_visible()
    page.get_by_role("link", name="Updates", exact=True).click()
    update = Path(__file__).resolve().parent / "data" / "updates" / "south-west-fy-2019-20.txt"
    page.get_by_label("Upload a file").set_input_files(str(update))
    page.get_by_role("button", name="Ingest").click()
    title = "South West Update – Financial Year 2019/20"
    expect(page.get_by_role("heading", name=title)).to_be_visible()
    preview_href = page.get_by_role("link", name="Preview").get_attribute("href")
    assert preview_href is not None
    update_page = server + preview_href.removesuffix("/preview")

    # Before: no section is for workforce leads, so their edition has no heading for them.
    page.goto(f"{update_page}/preview?segment=workforce-lead")
    frame = page.frame_locator('iframe[title^="Desktop preview"]')
    expect(frame.get_by_text("Budgets").first).to_be_visible()
    expect(frame.get_by_text("For workforce leads")).to_have_count(0)

    # The organiser ticks workforce-lead for section 2 (Budgets) and saves.
    page.goto(update_page)
    page.get_by_label("workforce-lead").nth(1).check()
    save = page.get_by_role("button", name="Save audiences").nth(1)
    save.scroll_into_view_if_needed()
    save.click()
    expect(page.get_by_role("status")).to_contain_text("Section 2 is now for dcs, workforce-lead")
    expect(page.get_by_role("heading", name="Edition preview: workforce-lead")).to_be_visible()
    frame = page.frame_locator('iframe[title="Preview of the workforce-lead edition"]')
    expect(frame.get_by_text("For workforce leads")).to_be_visible()
    # Budgets now comes first, under the workforce leads' heading; the rest follows.
    texts = frame.locator("h1, h2, h3").all_inner_texts()
    assert texts.index("For workforce leads") < texts.index("Budgets")
    assert texts.index("Budgets") < texts.index("Also in this update")
    expect(page.locator("ol.history")).to_contain_text(
        f"{ORGANISER} · section 2 audiences (Budgets): dcs → dcs, workforce-lead"
    )
    _shot(page, "console-section-audiences")

    # The next preview of that edition shows it too.
    page.get_by_role("link", name="Open the full preview").click()
    frame = page.frame_locator('iframe[title^="Desktop preview"]')
    expect(frame.get_by_text("For workforce leads")).to_be_visible()
