"""Updates of the family from other regions and periods: titles, periods, prose events,
footers, featured blocks, encodings — and the per-document accuracy over tests/data/updates."""

from __future__ import annotations

from datetime import date, datetime, time
from pathlib import Path

import pytest
from ingest_accuracy import expected_corpus, run

from newsletter.content import Event
from newsletter.ingest import IngestError, parse_bytes, parse_text
from newsletter.ingest.dates import UK
from newsletter.ingest.events import find_events
from newsletter.ingest.regions import compile_regions
from newsletter.ingest.titles import looks_like_title, read_title


@pytest.mark.parametrize(
    ("title", "region", "start", "end", "label"),
    [
        (
            "February 2019: East of England update",
            "East of England",
            "2019-02",
            "2019-02",
            "February 2019",
        ),
        (
            "South West Update December 2018 – January 2019",
            "South West",
            "2018-12",
            "2019-01",
            "December 2018 – January 2019",
        ),
        (
            "South East Region Update – Quarter 2 2019/20",
            "South East",
            "2019-07",
            "2019-09",
            "Quarter 2 2019/20",
        ),
        (
            "West Midlands Update Winter 2018/19",
            "West Midlands",
            "2018-12",
            "2019-02",
            "Winter 2018/19",
        ),
        ("North West October Update 2018", "North West", "2018-10", "2018-10", "October 2018"),
        ("London Update Spring 2019", "London", "2019-03", "2019-05", "Spring 2019"),
        ("North East Update - April 2017", "North East", "2017-04", "2017-04", "April 2017"),
        (
            "North East Region Update December 2018",
            "North East",
            "2018-12",
            "2018-12",
            "December 2018",
        ),
        (
            "Yorkshire & Humber Update June/July 2019",
            "Yorkshire and the Humber",
            "2019-06",
            "2019-07",
            "June – July 2019",
        ),
        (
            "East Midlands Update December/January 2019",
            "East Midlands",
            "2018-12",
            "2019-01",
            "December 2018 – January 2019",
        ),
        (
            "East of England Update Q3 2018",
            "East of England",
            "2018-07",
            "2018-09",
            "Quarter 3 2018",
        ),
        (
            "South West Update – Financial Year 2019/20",
            "South West",
            "2019-04",
            "2020-03",
            "Financial year 2019/20",
        ),
        ("SW Update Sept 2019", "South West", "2019-09", "2019-09", "September 2019"),
        (
            "Update from the Eastern Region, Autumn 2019",
            "East of England",
            "2019-09",
            "2019-11",
            "Autumn 2019",
        ),
    ],
)
def test_title_forms(title: str, region: str, start: str, end: str, label: str) -> None:
    found = looks_like_title(title)
    assert found is not None
    assert found.region == region
    assert found.period is not None
    assert (found.period.start, found.period.end, found.period.label) == (start, end, label)
    u = parse_text(f"{title}\n\nNews\n\nBody text.\n", "text", "t.txt")
    assert (u.title, u.region, u.period, u.period_end, u.period_label) == (
        title,
        region,
        start,
        end,
        label,
    )


def test_sentences_and_headings_are_not_titles() -> None:
    assert looks_like_title("The DfE published an update in March 2019.") is None
    assert looks_like_title("West Midlands Practice Week") is None
    assert read_title("Children's Services Update").region is None


def test_an_unplaceable_title_is_stored_with_warnings() -> None:
    result = parse_bytes(b"Regional news\n\nNews\n\nThe day went well.\n", "n.txt")
    u = result.update
    assert (u.title, u.region, u.period, u.period_label) == ("Regional news", None, None, None)
    assert any("names no period" in w and "line 1" in w for w in result.warnings)
    assert any("names no known region" in w for w in result.warnings)


def test_regions_file_can_be_extended(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "regions.toml"
    path.write_text('[regions.Cumbria]\nspellings = ["Cumbria", "Cumbrian"]\n', "utf-8")
    monkeypatch.setenv("NEWSLETTER_REGIONS_PATH", str(path))
    from newsletter.config import get_settings

    get_settings.cache_clear()
    try:
        u = parse_text("Cumbrian Update May 2019\n\nNews\n\nBody.\n", "text", "c.txt")
        assert (u.region, u.period) == ("Cumbria", "2019-05")
    finally:
        get_settings.cache_clear()


def test_a_bad_regions_file_is_named() -> None:
    with pytest.raises(IngestError, match=r"regions\.London\.spellings\[1\]"):
        compile_regions({"regions": {"London": {"spellings": ["London", 3]}}}, "r.toml")


def events_of(text: str, period: str | None = "2019-05") -> list[Event]:
    warnings: list[str] = []
    return find_events([("Events", text)], period, warnings)


def at(day: str, clock: str | None = None) -> datetime:
    d = date.fromisoformat(day)
    return datetime.combine(d, time.fromisoformat(clock) if clock else time(0), tzinfo=UK)


@pytest.mark.parametrize(
    ("text", "start", "end", "location"),
    [
        (
            "The conference is on 22 May 2019 at the Hilton Cambridge City Centre, 09:30–16:00.",
            at("2019-05-22", "09:30"),
            at("2019-05-22", "16:00"),
            "Hilton Cambridge City Centre",
        ),
        (
            "A workshop runs on 3 June from 10:00 to 13:00 in Leeds.",
            at("2019-06-03", "10:00"),
            at("2019-06-03", "13:00"),
            "Leeds",
        ),
        (
            "The seminar on 14 May runs 9.30am–3.30pm.",
            at("2019-05-14", "09:30"),
            at("2019-05-14", "15:30"),
            None,
        ),
        (
            "Drop in to the clinic on 14 May from 1.30pm at the Civic Centre, Sunderland.",
            at("2019-05-14", "13:30"),
            None,
            "Civic Centre, Sunderland",
        ),
        (
            "The briefing on 14 May is 10am to noon at Kent County Council offices in Maidstone.",
            at("2019-05-14", "10:00"),
            at("2019-05-14", "12:00"),
            "Kent County Council offices in Maidstone",
        ),
        ("The summit is on 12-13 March 2020.", at("2020-03-12"), at("2020-03-13"), None),
        ("The school runs between 10 and 12 June.", at("2019-06-10"), at("2019-06-12"), None),
        ("The review ran from 8 to 12 July.", at("2019-07-08"), at("2019-07-12"), None),
        ("Findings went to the DCS meeting on 5 July.", at("2019-07-05"), None, None),
    ],
)
def test_prose_event_when_and_where(
    text: str, start: datetime, end: datetime | None, location: str | None
) -> None:
    [event] = events_of(text)
    assert (event.start, event.end, event.location) == (start, end, location)
    assert event.all_day == (start.time() == time(0))
    assert event.source == text


def test_each_date_gets_its_own_time_and_title() -> None:
    first, second = events_of(
        "The Lead Member network meeting is at 10am on 5 June and a data workshop at 2pm"
        " on 12 June."
    )
    assert (first.title, first.start) == ("Lead Member network meeting", at("2019-06-05", "10:00"))
    assert (second.title, second.start) == ("Data workshop", at("2019-06-12", "14:00"))


def test_two_days_joined_by_and_are_two_events() -> None:
    assert [e.start for e in events_of("Fairs on 9 and 16 June in Derby.")] == [
        at("2019-06-09"),
        at("2019-06-16"),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "The guidance came into force on 4 September 2017.",
        "The portal went live on 1 March.",
        "The strategy was approved by directors on 14 June.",
        "The deadline for applications is 30 June.",
        "Returns are due by 30 September.",
        "From 1 April the service moves to the trust.",
        "The report was published on 10 January 2019.",
    ],
)
def test_dates_that_are_not_occasions(text: str) -> None:
    assert events_of(text) == []


def test_titles_are_short_noun_phrases() -> None:
    [event] = events_of(
        "Following on from the success of last year, Signs of Safety training will run on"
        " 6 November 2018 from 09:30 to 12:30 at Bradford City Hall for all practitioners"
        " who have not yet attended."
    )
    assert event.title == "Signs of Safety training"


def test_yearless_dates_use_the_period_range() -> None:
    # A financial year: March is the end of the year, not the March before.
    u = parse_text(
        "South West Update – Financial Year 2019/20\n\nNews\n\nThe conference is on 5 March.\n",
        "text",
        "fy.txt",
    )
    assert [e.start for e in u.events] == [at("2020-03-05")]


def test_without_a_period_the_updates_own_date_gives_the_year() -> None:
    result = parse_bytes(
        b"Update from the Eastern Region\n\nPublished: 3 March 2019\n\nNews\n\n"
        b"The meeting is on 12 April in Ipswich.\n",
        "e.txt",
    )
    assert [e.start for e in result.update.events] == [at("2019-04-12")]
    assert any(
        w.startswith("line 7: no year for '12 April'") and "the update's date on line 3" in w
        for w in result.warnings
    )


def test_tags_after_related_articles_and_on_the_label_line() -> None:
    text = (
        "London Update May 2019\n\nNews\n\nBody.\n\nRelated Articles\nOther article\n\n"
        "Tags assigned to this article:\nLONDON 3 SEND 2\n"
    )
    assert [t.name for t in parse_text(text, "text", "t.txt").tags] == ["LONDON", "SEND"]
    top = "Tags: LONDON 12, SAFEGUARDING 4\n\nLondon Update May 2019\n\nNews\n\nBody.\n"
    u = parse_text(top, "text", "t.txt")
    assert [t.name for t in u.tags] == ["LONDON", "SAFEGUARDING"]
    assert "SAFEGUARDING" not in str(u.to_json()["sections"])


@pytest.mark.parametrize("before_title", [True, False])
def test_undated_featured_block_stays_out_of_the_body(before_title: bool) -> None:
    block = "Featured Event\n\nWest Midlands Practice Week\n\n"
    title = "West Midlands Update May 2019\n\n"
    body = "News\n\nThe network met.\n"
    text = block + title + body if before_title else title + block + body
    result = parse_bytes(text.encode(), "f.txt")
    assert "Practice Week" not in str(result.update.to_json()["sections"])
    assert result.update.events == []
    assert any("'West Midlands Practice Week' has no date" in w for w in result.warnings)


def test_featured_event_named_by_the_update() -> None:
    text = (
        "Featured Event\n\nMon, 14 Oct 19 09:30 - 12:30\n\nLondon Update - September 2019\n\n"
        "Network\n\nThe London DCS network meeting is on 14 October at 9.30am in Camden.\n"
    )
    result = parse_bytes(text.encode(), "f.txt")
    [event] = result.update.events  # the prose mention is the same occasion
    assert (event.title, event.featured, event.needs_title) == (
        "London DCS network meeting",
        True,
        False,
    )
    assert (event.start, event.end, event.location) == (
        at("2019-10-14", "09:30"),
        at("2019-10-14", "12:30"),
        "Camden",
    )
    assert not any("needs a title" in w for w in result.warnings)


def test_featured_event_without_a_name_needs_a_title() -> None:
    text = "Featured Event\n\nWed, 27 Nov 19 10:00\n\nLondon Update November 2019\n\nNews\n\nX.\n"
    result = parse_bytes(text.encode(), "f.txt")
    [event] = result.update.events
    assert event.title == "London Region Update: featured event, 27 November 2019"
    assert event.needs_title is True
    assert any("line 1" in w and "needs a title" in w for w in result.warnings)


def test_a_stray_cp1252_byte_is_repaired_in_place() -> None:
    data = "London Update May 2019\n\nNews\n\nThe children’s services team.\n".encode()
    data += b"We couldn\x92t attend.\n"
    result = parse_bytes(data, "m.txt")
    text = str(result.update.to_json()["sections"])
    assert "children’s services" in text and "couldn’t attend" in text
    assert "â€" not in text
    assert result.warnings[0].startswith("invalid UTF-8 on line 6: 1 byte read as cp1252")


def test_a_whole_cp1252_file_still_reads() -> None:
    data = "London Update May 2019\n\nNews\n\nThe children’s services.\n".encode("cp1252")
    result = parse_bytes(data, "w.txt")
    assert "children’s services" in str(result.update.to_json()["sections"])
    assert "cp1252 (Windows-1252) throughout" in result.warnings[0]


def test_markdown_nested_too_deep_is_an_error_naming_the_line() -> None:
    text = "---\ntitle: London Update May 2019\n---\n\nIntro.\n\n" + "> " * 60 + "lost?\n"
    with pytest.raises(IngestError, match=r"line 7: Markdown nested more than"):
        parse_text(text, "markdown", "deep.md")
    shallow = "# London Update May 2019\n\n" + "> " * 10 + "kept\n"
    assert "kept" in str(parse_text(shallow, "markdown", "ok.md").to_json()["sections"])


def test_corpus_has_every_region_and_at_least_twenty_updates() -> None:
    expected = expected_corpus()
    assert len(expected) >= 20
    regions = {e["region"] for e in expected.values()}
    assert regions >= {
        *("North East", "North West", "Yorkshire and the Humber", "East Midlands"),
        *("West Midlands", "East of England", "London", "South East", "South West"),
    }


def test_accuracy_per_document_over_the_corpus() -> None:
    scores = run()
    # Every field of every document: a miss names the document and the field.
    misses = [f"{s.name}: {m}" for s in scores for m in s.misses]
    assert misses == []
    assert all(s.total >= 9 for s in scores)
