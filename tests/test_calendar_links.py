"""Add-to-calendar links parsed back with urllib: right host, UTC times, exact text."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from newsletter.calendar import (
    CalendarLinks,
    calendar_links,
    google_calendar_url,
    ics_download_url,
    outlook_calendar_url,
)
from newsletter.calendar.links import MAX_DETAILS
from newsletter.config import reset_settings
from newsletter.content import Event

LONDON = ZoneInfo("Europe/London")


@pytest.fixture(autouse=True)
def settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("NEWSLETTER_BASE_URL", "https://newsletter.example.org")
    reset_settings()
    yield
    reset_settings()


def make_event(**overrides: Any) -> Event:
    fields: dict[str, Any] = {
        "title": "Regional DCS meeting",
        "start": datetime(2018, 11, 14, 10, 0, tzinfo=LONDON),
        "location": "Civic Centre, Newcastle upon Tyne",
        "id": 42,
        "uid": "event-42@newsletter.example.org",
    }
    fields.update(overrides)
    return Event(**fields)


def query(url: str) -> dict[str, str]:
    """Decode the query string; every parameter must occur once."""
    raw = urlsplit(url).query
    assert "+" not in raw, "spaces must be %20: Outlook shows a literal +"
    parsed = parse_qs(raw, keep_blank_values=True, strict_parsing=True)
    assert all(len(v) == 1 for v in parsed.values()), parsed
    return {k: v[0] for k, v in parsed.items()}


# --- Google -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "dates"),
    [
        (datetime(2018, 11, 14, 10, 0), "20181114T100000Z/20181114T110000Z"),
        (datetime(2026, 7, 10, 15, 0), "20260710T140000Z/20260710T150000Z"),
    ],
    ids=["winter", "summer"],
)
def test_google_timed_event_in_utc(start: datetime, dates: str) -> None:
    url = google_calendar_url(make_event(start=start.replace(tzinfo=LONDON)))
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == (
        "https",
        "calendar.google.com",
        "/calendar/render",
    )
    params = query(url)
    assert params["action"] == "TEMPLATE"
    assert params["dates"] == dates
    assert params["text"] == "Regional DCS meeting"
    assert params["location"] == "Civic Centre, Newcastle upon Tyne"


def test_google_all_day_end_is_exclusive() -> None:
    event = make_event(
        start=datetime(2026, 7, 10, tzinfo=LONDON),
        end=datetime(2026, 7, 11, tzinfo=LONDON),
        all_day=True,
    )
    assert query(google_calendar_url(event))["dates"] == "20260710/20260712"
    one_day = make_event(start=datetime(2026, 7, 10, tzinfo=LONDON), all_day=True)
    assert query(google_calendar_url(one_day))["dates"] == "20260710/20260711"


def test_google_details_default_and_explicit() -> None:
    event = make_event(
        url="https://newsletter.example.org/events/42",
        location="Room 50% & 2? #workforce",
        source="Directors meet in Newcastle on 14 November",
    )
    default = query(google_calendar_url(event))["details"]
    assert default.startswith("Where: Room 50% & 2? #workforce")
    assert "14 November" not in default
    assert "https://newsletter.example.org/events/42" in default
    assert query(google_calendar_url(event, "Bring: papers\nRoom 2"))["details"] == (
        "Bring: papers\nRoom 2"
    )
    long = query(google_calendar_url(event, "word " * 1000))["details"]
    assert len(long) <= MAX_DETAILS and long.endswith("…")


# --- Outlook.com / Office 365 ----------------------------------------------------


@pytest.mark.parametrize(
    ("office365", "host"), [(False, "outlook.live.com"), (True, "outlook.office.com")]
)
@pytest.mark.parametrize(
    ("start", "startdt", "enddt"),
    [
        (datetime(2018, 11, 14, 10, 0), "2018-11-14T10:00:00Z", "2018-11-14T11:00:00Z"),
        (datetime(2026, 7, 10, 15, 0), "2026-07-10T14:00:00Z", "2026-07-10T15:00:00Z"),
    ],
    ids=["winter", "summer"],
)
def test_outlook_deeplinks(
    office365: bool, host: str, start: datetime, startdt: str, enddt: str
) -> None:
    event = make_event(start=start.replace(tzinfo=LONDON))
    url = outlook_calendar_url(event, office365=office365, details="Agenda to follow")
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == (
        "https",
        host,
        "/calendar/0/deeplink/compose",
    )
    assert query(url) == {
        "path": "/calendar/action/compose",
        "rru": "addevent",
        "subject": "Regional DCS meeting",
        "startdt": startdt,
        "enddt": enddt,
        "allday": "false",
        "body": "Agenda to follow",
        "location": "Civic Centre, Newcastle upon Tyne",
    }


def test_outlook_all_day_and_explicit_end() -> None:
    all_day = make_event(start=datetime(2026, 7, 10, tzinfo=LONDON), all_day=True, location=None)
    params = query(outlook_calendar_url(all_day))
    assert (params["startdt"], params["enddt"], params["allday"]) == (
        "2026-07-10",
        "2026-07-11",
        "true",
    )
    assert "location" not in params

    start = datetime(2026, 7, 10, 15, 0, tzinfo=LONDON)
    timed = make_event(start=start, end=start + timedelta(minutes=90))
    params = query(outlook_calendar_url(timed, office365=True))
    assert (params["startdt"], params["enddt"]) == ("2026-07-10T14:00:00Z", "2026-07-10T15:30:00Z")


# --- .ics download and the bundle ----------------------------------------------------


def test_ics_download_url() -> None:
    event = make_event()
    assert ics_download_url(event, "https://n.example.org") == "https://n.example.org/events/42.ics"
    assert (
        ics_download_url(event, "https://n.example.org/") == "https://n.example.org/events/42.ics"
    )
    assert ics_download_url(event) == "https://newsletter.example.org/events/42.ics"
    with pytest.raises(ValueError, match="no id"):
        ics_download_url(make_event(id=None), "https://n.example.org")


def test_calendar_links_bundle() -> None:
    event = make_event(start=datetime(2026, 7, 10, 15, 0, tzinfo=LONDON))
    links = calendar_links(event, "https://n.example.org")
    assert isinstance(links, CalendarLinks)
    assert urlsplit(links.google).netloc == "calendar.google.com"
    assert urlsplit(links.outlook).netloc == "outlook.live.com"
    assert urlsplit(links.office365).netloc == "outlook.office.com"
    assert links.ics == "https://n.example.org/events/42.ics"
    for url in (links.google, links.outlook, links.office365, links.ics):
        assert urlsplit(url).scheme == "https"
    assert query(links.outlook)["startdt"] == "2026-07-10T14:00:00Z"
    assert calendar_links(make_event(id=None)).ics is None  # preview: nothing to download yet


@given(
    title=st.text(
        alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=80
    ),
    location=st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=80),
)
def test_any_text_round_trips(title: str, location: str) -> None:
    event = make_event(title=title, location=location or None)
    google = query(google_calendar_url(event, details=title))
    outlook = query(outlook_calendar_url(event, details=title))
    assert google["text"] == outlook["subject"] == title
    assert google["details"] == outlook["body"] == title
    if location:
        assert google["location"] == outlook["location"] == location
