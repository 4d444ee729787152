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
        (
            "Update from the South West ADCS network – Spring term 2020",
            "South West",
            "2020-01",
            "2020-03",
            "Spring term 2020",
        ),
        (
            "London Update Autumn term 2019/20",
            "London",
            "2019-09",
            "2019-12",
            "Autumn term 2019/20",
        ),
        (
            "ADCS North West: Update, January–March 2021",
            "North West",
            "2021-01",
            "2021-03",
            "January – March 2021",
        ),
        (
            "West Midlands Update (Oct–Dec 2019)",
            "West Midlands",
            "2019-10",
            "2019-12",
            "October – December 2019",
        ),
        (
            "Yorkshire and the Humber regional update (December 2020)",
            "Yorkshire and the Humber",
            "2020-12",
            "2020-12",
            "December 2020",
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


@pytest.mark.parametrize(
    ("body", "start", "end", "label", "source"),
    [
        # The dates the update writes with a year vote: the July one is past news.
        (
            "News\n\nThe meeting on 8 October 2020 is on Zoom. Our webinar on 16 July 2020 went"
            " well.",
            "2020-09",
            "2020-11",
            "Autumn 2020",
            "the dates the update gives with their year",
        ),
        # The update's own date decides; a January date belongs to that winter.
        (
            "Published: 2 December 2019\n\nNews\n\nThe meeting is on 14 January 2020.",
            "2019-12",
            "2020-02",
            "Winter 2019/20",
            "the update's date on line 3",
        ),
    ],
)
def test_a_period_without_a_year_is_placed_by_the_updates_dates(
    body: str, start: str, end: str, label: str, source: str
) -> None:
    season = "Autumn" if "Autumn" in label else "Winter"
    text = f"East Midlands Region – {season} Update\n\n{body}\n"
    result = parse_bytes(text.encode(), "s.txt")
    u = result.update
    assert (u.period, u.period_end, u.period_label) == (start, end, label)
    assert any(
        w.startswith("line 1:") and "without a year" in w and source in w for w in result.warnings
    )


def test_a_period_without_a_year_or_any_dated_text_stays_unknown() -> None:
    result = parse_bytes(b"East Midlands Region - Autumn Update\n\nNews\n\nWe met.\n", "a.txt")
    assert result.update.period is None
    assert any("names no period" in w for w in result.warnings)


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
        (
            "The conference is on Wednesday 9th and Thursday 10th June in Leeds.",
            at("2019-06-09"),
            at("2019-06-10"),
            "Leeds",
        ),
        (
            "The residential runs from 9am on 4 November to 1pm on 5 November at Durham Castle.",
            at("2019-11-04", "09:00"),
            at("2019-11-05", "13:00"),
            "Durham Castle",
        ),
        (
            "Directors meet from Monday 30 September to Wednesday 2 October in Exeter.",
            at("2019-09-30"),
            at("2019-10-02"),
            "Exeter",
        ),
        # Overnight: an evening start with a morning end finishes the next day.
        (
            "The sleep out is on 11 December, 8pm–7am, at Leeds Minster.",
            at("2019-12-11", "20:00"),
            at("2019-12-12", "07:00"),
            "Leeds Minster",
        ),
        (
            "The vigil runs 10pm to midnight on 3 June.",
            at("2019-06-03", "22:00"),
            at("2019-06-04"),
            None,
        ),
        # Online: the platform is the place; "online" said of the occasion too.
        (
            "The network meets online on 18 June, 14:00–16:00, via Microsoft Teams: https://teams.example/x",
            at("2019-06-18", "14:00"),
            at("2019-06-18", "16:00"),
            "Microsoft Teams",
        ),
        (
            "A webinar is 10am to 1pm on 12 June on Zoom (https://zoom.example/j/1).",
            at("2019-06-12", "10:00"),
            at("2019-06-12", "13:00"),
            "Zoom",
        ),
        ("The forum will be held online on 5 June.", at("2019-06-05"), None, "Online"),
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


@pytest.mark.parametrize(
    "text",
    [
        # Reported as past, dated before the period (May 2019 here).
        "Our autumn conference on 14 November 2018 was attended by over 200 people.",
        "The peer challenge, which took place on 2 and 3 April, found strong practice.",
        "The Lead Member briefing held on 29 March covered the spending review.",
        # Called off.
        "The SEND conference planned for 26 June has been postponed; a new date will follow.",
        "The away day on 11 June is cancelled.",
        "The commissioning away day on 11 June will not go ahead.",
        "Following the cancellation of the workshop on 12 June, places are refunded.",
    ],
)
def test_past_and_called_off_occasions_are_not_events(text: str) -> None:
    assert events_of(text) == []


@pytest.mark.parametrize(
    ("text", "day"),
    [
        # In the period, or future, or named as where something happened: kept.
        ("Blackpool hosted a learning event on 21 May.", "2019-05-21"),
        ("Findings were presented at the DCS meeting on 5 April.", "2019-04-05"),
        ("The conference, postponed from 4 March, will now be held on 18 June.", "2019-06-18"),
        ("The forum has been postponed to 14 June.", "2019-06-14"),
        (
            "The conference returns on 5 June in Leeds, replacing the event that was cancelled.",
            "2019-06-05",
        ),
    ],
)
def test_occasions_kept_despite_past_or_postponed_words(text: str, day: str) -> None:
    assert [e.start for e in events_of(text)] == [at(day)]


def test_called_off_dates_are_named_in_a_warning() -> None:
    warnings: list[str] = []
    find_events([("Events", "The away day on 11 June is cancelled.")], "2019-05", warnings)
    assert any("'11 June' is cancelled or postponed" in w for w in warnings)


def test_a_list_of_dates_takes_its_title_from_the_lead_in() -> None:
    text = (
        "West Midlands Update (Oct–Dec 2019)\n\nSector-Led Improvement\n\n"
        "Dates for the regional DCS meetings in 2020:\n\n1. 14 January\n2. 11 February\n"
    )
    u = parse_text(text, "text", "wm.txt")
    assert [(e.title, e.start) for e in u.events] == [
        ("Regional DCS meeting", at("2020-01-14")),
        ("Regional DCS meeting", at("2020-02-11")),
    ]


def test_a_bare_occasion_names_itself_with_its_topic() -> None:
    [event] = events_of("A webinar on the new ASYE framework is at 10am on 12 June.")
    assert event.title == "Webinar on the new ASYE framework"


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


@pytest.mark.parametrize(
    ("block", "start", "end", "title", "location"),
    [
        (
            "Featured event:\nTuesday 3rd March 2020, 10:00–12:30\nSEND Leaders Forum\n"
            "Taunton Racecourse",
            at("2020-03-03", "10:00"),
            at("2020-03-03", "12:30"),
            "SEND Leaders Forum",
            "Taunton Racecourse",
        ),
        (
            "Featured event: 3/3/2020 at 2pm\nLondon DCS Network Meeting\n"
            "London Councils, Southwark Street",
            at("2020-03-03", "14:00"),
            None,
            "London DCS Network Meeting",
            "London Councils, Southwark Street",
        ),
        (
            "FEATURED EVENT\n\nRegional adoption conference\n"
            "Wednesday 4 March 2020, 2pm to 4.30pm\nOnline (Microsoft Teams)",
            at("2020-03-04", "14:00"),
            at("2020-03-04", "16:30"),
            "Regional adoption conference",
            "Online (Microsoft Teams)",
        ),
        (
            "Featured event: 10am to 1pm on 12 March\nDCS away day",
            at("2020-03-12", "10:00"),
            at("2020-03-12", "13:00"),
            "DCS away day",
            None,
        ),
    ],
)
def test_featured_blocks_written_by_hand_after_the_title(
    block: str, start: datetime, end: datetime | None, title: str, location: str | None
) -> None:
    text = f"London Update March 2020\n\n{block}\n\nNetwork\n\nThe network met in January.\n"
    u = parse_text(text, "text", "f.txt")
    [event] = u.events
    assert (event.start, event.end, event.title, event.location) == (start, end, title, location)
    assert event.featured and not event.needs_title
    # The block is not body text, and the heading after it survives.
    assert [s.heading for s in u.sections] == ["Network"]
    assert title not in str(u.to_json()["sections"])


def test_a_featured_date_with_a_place_in_brackets_and_no_name() -> None:
    text = (
        "North East Update October 2020\n\n"
        "Featured event: Wednesday 21 October 2020, 13:00 – 15:30 (online)\n\n"
        "News\n\nBody.\n"
    )
    result = parse_bytes(text.encode(), "f.txt")
    [event] = result.update.events
    assert (event.start, event.end, event.location) == (
        at("2020-10-21", "13:00"),
        at("2020-10-21", "15:30"),
        "Online",
    )
    assert event.needs_title and event.title.endswith("featured event, 21 October 2020")
    assert [s.heading for s in result.update.sections] == ["News"]


def test_featured_event_without_a_name_needs_a_title() -> None:
    text = "Featured Event\n\nWed, 27 Nov 19 10:00\n\nLondon Update November 2019\n\nNews\n\nX.\n"
    result = parse_bytes(text.encode(), "f.txt")
    [event] = result.update.events
    assert event.title == "London Region Update: featured event, 27 November 2019"
    assert event.needs_title is True
    assert any("line 1" in w and "needs a title" in w for w in result.warnings)


@pytest.mark.parametrize(
    ("line", "tags"),
    [
        ("Tags: SEND, workforce; peer review", ["SEND", "workforce", "peer review"]),
        (
            "Keywords - North West, Covid-19, practice week",
            ["North West", "Covid-19", "practice week"],
        ),
        ("Keywords: LONDON 22, SEND 8", ["LONDON", "SEND"]),
    ],
)
def test_tags_and_keywords_lines(line: str, tags: list[str]) -> None:
    u = parse_text(f"London Update May 2019\n\nNews\n\nBody.\n\n{line}\n", "text", "t.txt")
    assert [t.name for t in u.tags] == tags
    assert line not in str(u.to_json()["sections"])


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
