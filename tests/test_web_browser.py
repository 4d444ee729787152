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
from newsletter.models import Subscriber
from newsletter.paths import SAMPLES_DIR
from newsletter.sends import create_send
from newsletter.transports.memory import InMemoryTransport
from newsletter.web import create_app
from newsletter.web.services import ingest

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
    page.get_by_role("button", name="Schedule").click()
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
