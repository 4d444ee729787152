"""The plain-text family: every sample field by field, and unseen updates of the family."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest

from newsletter.content import Bullets, Event, Paragraph, Tag, Update
from newsletter.ingest import parse_bytes, parse_file, parse_text
from newsletter.ingest.chrome import is_chrome
from newsletter.ingest.dates import UK, resolve_year
from newsletter.ingest.tags import parse_tags
from newsletter.paths import SAMPLES_DIR

SHARED_SAMPLES = Path("/work/shared/samples/updates")


def sample(name: str) -> Update:
    result = parse_file(SAMPLES_DIR / name)
    assert result.format == "text"
    # The only thing to say about the samples: a featured event the site
    # printed without a title needs one.
    assert all("needs a title" in w for w in result.warnings)
    return result.update


def headings(update: Update) -> list[str | None]:
    return [s.heading for s in update.sections]


def block_types(update: Update) -> list[list[str]]:
    return [[b.type for b in s.blocks] for s in update.sections]


def iso(event: Event) -> str:
    return event.start.isoformat()


# --- the three samples -------------------------------------------------------


def test_bundled_samples_match_shared_samples() -> None:
    for path in SHARED_SAMPLES.glob("*.txt"):
        assert (SAMPLES_DIR / path.name).read_bytes() == path.read_bytes()


def test_sample_2017_04() -> None:
    u = sample("north-east-2017-04.txt")
    assert u.title == "North East Update April 2017"
    assert u.region == "North East"
    assert u.period == "2017-04"
    assert headings(u) == [
        None,
        "Teaching Partnership",
        "Sector Led Improvement",
        "Workforce Development",
    ]
    assert block_types(u) == [
        ["paragraph"],
        ["paragraph"] * 4,
        ["paragraph"] * 2,
        ["paragraph"] * 3,
    ]
    opening = u.sections[0].blocks[0]
    assert isinstance(opening, Paragraph)
    assert opening.text.startswith("Martin Gray became DCS in Stockton in January")
    # Typographic quotes survive exactly.
    slip = u.sections[2].blocks[1]
    assert isinstance(slip, Paragraph)
    assert "shared understanding of ‘good’ practice" in slip.text
    assert "children’s and adult services" in u.sections[2].blocks[0].text  # type: ignore[union-attr]
    assert u.tags == []
    assert u.contacts == []
    assert len(u.events) == 1
    featured = u.events[0]
    assert featured.featured is True
    assert iso(featured) == "2018-11-14T10:00:00+00:00"
    assert featured.end is None and featured.all_day is False
    assert featured.timezone == "Europe/London"
    # The site printed no title: one is made from the update and marked.
    assert featured.title == "North East Region Update: featured event, 14 November 2018"
    assert featured.needs_title is True
    assert featured.source == "Wed, 14 Nov 18 10:00"
    # Website chrome never becomes content.
    everything = str(u.to_json())
    for chrome in ("Featured Event", "Tags assigned", "Related Articles", "Wed, 14 Nov"):
        assert chrome not in str([s.blocks for s in u.sections]) + str(headings(u))
    assert "North East Update April 2017" not in str([s.blocks for s in u.sections])
    assert everything


def test_sample_2018_12() -> None:
    u = sample("north-east-2018-12.txt")
    assert u.title == "North East Region Update December 2018"
    assert u.region == "North East"
    assert u.period == "2018-12"
    assert headings(u) == [
        "Social Work Conference",
        "Children’s Emotional Health and Wellbeing",
        "Children’s Continuing Care",
        "Opportunity North East",
        "Sector-Led Improvement / RIA",
    ]
    assert block_types(u) == [["paragraph"]] * 4 + [["paragraph"] * 3]
    assert u.tags == [Tag("SLI", 100), Tag("NORTH EAST", 15)]
    assert u.to_json()["tags"] == [
        {"name": "SLI", "count": 100},
        {"name": "NORTH EAST", "count": 15},
    ]
    assert u.contacts == []
    assert u.events == []
    money = u.sections[3].blocks[0]
    assert isinstance(money, Paragraph)
    assert "£24 million" in money.text and "‘Early Career Framework’" in money.text


def test_sample_2019_09() -> None:
    u = sample("north-east-2019-09.txt")
    assert u.title == "North East Regional Update September 2019"
    assert u.region == "North East"
    assert u.period == "2019-09"
    assert headings(u) == [
        "Regional Learning Event",
        "Young Ambassadors",
        "Peer Audit",
        "Lead Member Network",
    ]
    assert block_types(u) == [
        ["paragraph"],
        ["paragraph", "paragraph", "bullets"],
        ["paragraph"],
        ["paragraph"],
    ]
    # The paragraph after the double blank line stays in its section, and the
    # "•" items separated by blank lines form one bullet block.
    intro = u.sections[1].blocks[1]
    assert isinstance(intro, Paragraph)
    assert intro.text.endswith("priorities for 2019/20 are:")
    bullets = u.sections[1].blocks[2]
    assert isinstance(bullets, Bullets)
    assert bullets.items == (
        "Recruitment and retention of social workers and social care staff at all levels"
        " and developing the wider social care workforce",
        "Continuing to manage agency supply, demand, cost and quality",
        "Leadership and management development.",
    )
    assert u.tags == []
    assert u.contacts == []
    assert u.events == []


def test_sample_audiences() -> None:
    u = sample("north-east-2019-09.txt")
    by_heading = {s.heading: s.audiences for s in u.sections}
    assert by_heading["Lead Member Network"] == ["dcs", "lead-member"]
    assert by_heading["Young Ambassadors"] == ["dcs", "workforce-lead"]
    assert by_heading["Peer Audit"] == ["dcs"]
    assert all(s.audiences[0] == "dcs" for s in u.sections)
    dec = sample("north-east-2018-12.txt")
    last = dec.sections[-1]
    assert last.audiences == ["dcs", "lead-member", "workforce-lead"]


@pytest.mark.parametrize("path", sorted(SAMPLES_DIR.glob("*.txt")), ids=lambda p: p.name)
def test_samples_round_trip_through_json(path: Path) -> None:
    u = parse_file(path).update
    again = Update.from_json(u.to_json())
    assert again.to_json() == u.to_json()


# --- unseen updates of the same family --------------------------------------

YORKSHIRE = """\
Yorkshire and the Humber Regional Update March 2020

Directors met in Leeds in February. Contact the regional office at
yh.office@example.gov.uk for papers.

Workforce & Recruitment

The regional recruitment campaign launches this spring.

- Social worker apprenticeships open for applications
- Agency rates agreement renewed; queries to jo.bloggs@leeds.example.gov.uk
* A careers fair will take place on 23 April 2020 in Wakefield.

Lead Members / Scrutiny

The lead member network will meet on 5 May at 10am at the Civic Centre, Sheffield.

What happens next?

Further updates will follow in the summer.

Best wishes

Tags assigned to this article:
SLI 12 YORKSHIRE 4

Related Articles

North East Update April 2017
"""


def test_other_region_with_dashes_stars_and_emails() -> None:
    u = parse_text(YORKSHIRE, "text", "yh.txt")
    assert u.title == "Yorkshire and the Humber Regional Update March 2020"
    assert u.region == "Yorkshire and the Humber"
    assert u.period == "2020-03"
    assert headings(u) == [
        None,
        "Workforce & Recruitment",
        "Lead Members / Scrutiny",
        "What happens next?",
    ]
    # A hard-wrapped paragraph joins into one; the sign-off stays a paragraph.
    assert u.sections[0].blocks == [
        Paragraph(
            "Directors met in Leeds in February. Contact the regional office at "
            "yh.office@example.gov.uk for papers."
        )
    ]
    assert block_types(u)[1] == ["paragraph", "bullets"]
    items = u.sections[1].blocks[1]
    assert isinstance(items, Bullets) and len(items.items) == 3
    assert items.items[0] == "Social worker apprenticeships open for applications"
    assert u.sections[3].blocks == [
        Paragraph("Further updates will follow in the summer."),
        Paragraph("Best wishes"),
    ]
    assert u.contacts == ["yh.office@example.gov.uk", "jo.bloggs@leeds.example.gov.uk"]
    assert u.tags == [Tag("SLI", 12), Tag("YORKSHIRE", 4)]
    assert "North East Update April 2017" not in str(u.to_json()["sections"])
    assert [(e.title, iso(e), e.all_day, e.location) for e in u.events] == [
        ("Careers fair", "2020-04-23T00:00:00+01:00", True, "Wakefield"),
        ("Lead member network", "2020-05-05T10:00:00+01:00", False, "Civic Centre, Sheffield"),
    ]
    assert u.events[0].source == "A careers fair will take place on 23 April 2020 in Wakefield."
    assert u.sections[1].audiences == ["dcs", "workforce-lead"]
    assert u.sections[2].audiences == ["dcs", "lead-member"]


NORTH_WEST = """\
Featured Event

DCS Leadership Forum

Thu, 6 Feb 20 09:30 - 12:30

Manchester Town Hall

North West Update January 2020

Regional Conference

The regional conference will take place on 23 January 2017 in Newcastle.
Our next session is on 5 March at 2pm; a workshop runs 10:00-12:00 on 12 March.
Colleagues will hold a webinar on 14 October at 10am.
Applications must be submitted by 28 February.

Numbered Priorities

1. Sufficiency of placements
2) Early help, with a focus on 2-4pm drop-ins on 9 January in Bolton

Tags assigned to this article:
"""


def test_featured_block_with_title_and_location_and_prose_events() -> None:
    u = parse_text(NORTH_WEST, "auto", "nw.txt")
    assert u.title == "North West Update January 2020"
    assert u.region == "North West"
    assert u.period == "2020-01"
    assert headings(u) == ["Regional Conference", "Numbered Priorities"]
    featured = u.events[0]
    assert featured.featured is True
    assert featured.title == "DCS Leadership Forum"
    assert featured.location == "Manchester Town Hall"
    assert iso(featured) == "2020-02-06T09:30:00+00:00"
    assert featured.end == datetime.fromisoformat("2020-02-06T12:30:00+00:00")
    found = [(e.title, iso(e), e.end and e.end.isoformat(), e.location) for e in u.events[1:]]
    assert found == [
        ("Regional conference", "2017-01-23T00:00:00+00:00", None, "Newcastle"),
        # Yearless dates take the period's year; each clause names its own event...
        ("Next session", "2020-03-05T14:00:00+00:00", None, None),
        ("Workshop", "2020-03-12T10:00:00+00:00", "2020-03-12T12:00:00+00:00", None),
        # ...except a month well before the period month: October in a January update is past.
        ("Webinar", "2019-10-14T10:00:00+01:00", None, None),
        (
            "Numbered Priorities",
            "2020-01-09T14:00:00+00:00",
            "2020-01-09T16:00:00+00:00",
            "Bolton",
        ),
    ]
    assert all(not e.featured for e in u.events[1:])
    # A deadline ("by 28 February") is not an event.
    assert all("submitted by" not in e.source for e in u.events)
    numbered = u.sections[1].blocks[0]
    assert isinstance(numbered, Bullets)
    assert numbered.items[0] == "Sufficiency of placements"
    # The all-day event starts at local midnight and says so.
    conference = u.to_json()["events"][1]
    assert conference["all_day"] is True and conference["timezone"] == "Europe/London"


def test_short_lines_not_followed_by_body_are_paragraphs() -> None:
    text = (
        "London Update May 2021\n\nIntro paragraph here.\n\nJane Smith\n\n"
        "Director of Children’s Services\n"
    )
    u = parse_text(text, "text", "x.txt")
    assert headings(u) == [None]
    assert [b for s in u.sections for b in s.blocks] == [
        Paragraph("Intro paragraph here."),
        Paragraph("Jane Smith"),
        Paragraph("Director of Children’s Services"),
    ]


def test_lines_with_closing_punctuation_are_not_headings() -> None:
    text = (
        "South East Update June 2019\n\nSummary:\n\nSome body.\n\n"
        "Note, this line.\n\nMore body.\n\nShort Heading\n\nBody text.\n"
    )
    u = parse_text(text, "text", "se.txt")
    assert headings(u) == [None, "Short Heading"]
    assert u.sections[0].blocks[0] == Paragraph("Summary:")


def test_bullet_marker_alone_on_its_line_and_en_dash_items() -> None:
    text = "East Midlands Update July 2019\n\nPriorities\n\n•\nFirst item\n\n– Second item\n"
    u = parse_text(text, "text", "em.txt")
    assert u.sections[0].heading == "Priorities"
    assert u.sections[0].blocks == [Bullets(("First item", "Second item"))]


def test_undated_title_on_first_line() -> None:
    u = parse_text("London Update\n\nNews\n\nBody text.\n", "text", "l.txt")
    assert (u.title, u.region, u.period) == ("London Update", "London", None)


def test_text_before_the_title_is_kept_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "u.txt"
    path.write_text(
        "Draft for directors\n\nNorth East Update April 2017\n\nBody.\n", encoding="utf-8"
    )
    result = parse_file(path)
    assert result.update.sections[0].blocks[0] == Paragraph("Draft for directors")
    assert any("before the title" in w for w in result.warnings)


def test_yearless_event_without_period_takes_the_ingest_year_with_warning(tmp_path: Path) -> None:
    path = tmp_path / "u.txt"
    path.write_text("Wales Update\n\nNews\n\nWe meet on 5 March in Cardiff.\n", encoding="utf-8")
    result = parse_file(path)
    today = datetime.now(UK).date()
    year = resolve_year(3, 5, f"{today.year:04d}-{today.month:02d}", None)
    assert [(e.start.date(), e.location) for e in result.update.events] == [
        (date(year or 0, 3, 5), "Cardiff")
    ]
    assert any("no year for '5 March'" in w and "ingest date" in w for w in result.warnings)
    assert any("names no period" in w for w in result.warnings)
    assert any("'Wales' is not a known region" in w for w in result.warnings)


@pytest.mark.parametrize(
    ("line", "tags"),
    [
        ("SLI 100 NORTH EAST 15", [Tag("SLI", 100), Tag("NORTH EAST", 15)]),
        ("WORKFORCE 3", [Tag("WORKFORCE", 3)]),
        ("SLI, NORTH EAST", [Tag("SLI", None), Tag("NORTH EAST", None)]),
        ("SLI 100 NORTH EAST", [Tag("SLI", 100), Tag("NORTH EAST", None)]),
        # Counts in brackets, with or without separators; "·" separates too.
        ("London (41), Workforce (7)", [Tag("London", 41), Tag("Workforce", 7)]),
        ("Eastern region (14) SEND (3)", [Tag("Eastern region", 14), Tag("SEND", 3)]),
        (
            "Yorkshire (22) · SLI · Lead Members (3)",
            [Tag("Yorkshire", 22), Tag("SLI", None), Tag("Lead Members", 3)],
        ),
        ("2020 vision, SEND", [Tag("2020 vision", None), Tag("SEND", None)]),
    ],
)
def test_tags_line(line: str, tags: list[Tag]) -> None:
    assert parse_tags([line]) == tags


def test_tags_on_the_label_line() -> None:
    text = "North East Update April 2017\n\nNews\n\nBody.\n\nTags assigned to this article: SLI 7\n"
    assert parse_text(text, "text", "t.txt").tags == [Tag("SLI", 7)]


def test_featured_block_after_the_title_and_odd_whitespace() -> None:
    text = (
        "North\xa0East Update   November 2019  \n\nRegional News\n\nBody text.\n\n"
        "Featured Event\n\nWed, 4 Dec 19 14:00\n\nEvents\n\n"
        "Join us on Tuesday 3rd December 2019, 9:30am to 1pm, at Durham County Hall. "
        "Email events@ne.example.org to book.\n"
    )
    u = parse_text(text, "auto", "nov.txt")
    assert u.title == "North East Update November 2019"
    # The stamp ends the block, so the "Events" heading after it survives.
    assert headings(u) == ["Regional News", "Events"]
    featured, prose = u.events
    assert (featured.featured, iso(featured)) == (True, "2019-12-04T14:00:00+00:00")
    assert (prose.title, iso(prose), prose.location) == (
        "Events",
        "2019-12-03T09:30:00+00:00",
        "Durham County Hall",
    )
    assert prose.end is not None and prose.end.isoformat() == "2019-12-03T13:00:00+00:00"
    assert prose.source.endswith("at Durham County Hall.")
    assert u.contacts == ["events@ne.example.org"]


WEB_PAGE = """\
Skip to main content
Home › Regions › London › News and updates
Search this site

London Update May 2019

Share this page
Share on Facebook | Share on Twitter | Email this page
Print this page

Posted by the secretariat on 2 May 2019

Network

The network meets on 5 June at City Hall.

Share this page
Facebook  Twitter  LinkedIn

Was this page useful? Yes | No
Back to top
© 2019 ALDCS | Privacy | Cookies | Accessibility statement
"""


def test_a_web_pages_furniture_is_dropped_and_never_the_title() -> None:
    result = parse_bytes(WEB_PAGE.encode(), "page.txt")
    u = result.update
    # The breadcrumbs name London and the update word, but are not the title.
    assert (u.title, u.period) == ("London Update May 2019", "2019-05")
    body = str(u.to_json()["sections"])
    for chrome in ("Skip to", "Home ›", "Search", "Share", "Facebook", "useful", "Back to", "©"):
        assert chrome not in body
    assert headings(u) == [None, "Network"]
    assert not any("before the title" in w for w in result.warnings)
    # The page's date line is the update's own date, not an occasion.
    assert [(e.start.date(), e.location) for e in u.events] == [(date(2019, 6, 5), "City Hall")]


@pytest.mark.parametrize(
    ("line", "chrome"),
    [
        ("Home › Regions › London", True),
        ("You are here: Home > News", True),
        ("Home / News / Regional updates", True),
        ("Share on LinkedIn", True),
        ("Did you find this page useful?", True),
        ("Copyright © 2022 ADCS", True),
        ("Terms | Privacy | Contact us", True),
        ("Attendance > 90% and exclusions > 5% in 2019", False),
        ("June/July 2019 update", False),
        ("Contact Jo | 01234 567890 | jo@example.org", False),
        ("Twitter and Facebook campaigns reached 40,000 young people.", False),
        ("Search and rescue", False),
    ],
)
def test_chrome_lines(line: str, chrome: bool) -> None:
    assert is_chrome(line) is chrome


def test_a_table_copied_with_tabs_becomes_list_items() -> None:
    text = (
        "West Midlands Update March 2022\n\nUpcoming dates\n"
        "Date\t\tMeeting\t\tVenue\n"
        "Tue 5 Apr\tWM DCS meeting\tWalsall Council House\n"
        "Thu 21 Apr\tHeads of Service forum\tOnline (Teams)\n\n"
        "Priorities\n\n–\tFirst priority\n–\tSecond priority\n"
    )
    u = parse_text(text, "text", "t.txt")
    assert headings(u) == ["Upcoming dates", "Priorities"]
    assert u.sections[0].blocks == [
        Bullets(
            (
                "Date – Meeting – Venue",
                "Tue 5 Apr – WM DCS meeting – Walsall Council House",
                "Thu 21 Apr – Heads of Service forum – Online (Teams)",
            )
        )
    ]
    # A list after tabs is a list, not a table.
    assert u.sections[1].blocks == [Bullets(("First priority", "Second priority"))]
    assert [(e.title, e.start.date(), e.location) for e in u.events] == [
        ("WM DCS meeting", date(2022, 4, 5), "Walsall Council House"),
        ("Heads of Service forum", date(2022, 4, 21), "Microsoft Teams"),
    ]


def test_a_single_line_with_a_tab_is_not_a_table() -> None:
    text = "London Update May 2019\n\nNews\n\nContact:\tJo Bloggs on 01234 567890.\n"
    u = parse_text(text, "text", "t.txt")
    assert u.sections[0].blocks == [Paragraph("Contact:\tJo Bloggs on 01234 567890.")]


@pytest.mark.parametrize(
    ("written", "address"),
    [
        ("priya.patel [at] kirklees.gov.uk", "priya.patel@kirklees.gov.uk"),
        ("j.bloggs[at]walsall.gov.uk", "j.bloggs@walsall.gov.uk"),
        ("Jo.Smith (AT) Suffolk.gov.uk", "Jo.Smith@Suffolk.gov.uk"),
    ],
)
def test_an_address_spelt_against_robots_is_a_contact(written: str, address: str) -> None:
    text = f"London Update May 2019\n\nNews\n\nWrite to {written} for details.\n"
    u = parse_text(text, "text", "t.txt")
    assert u.contacts == [address]
    assert written in str(u.to_json()["sections"])


def test_long_question_is_a_paragraph_short_one_a_heading() -> None:
    text = (
        "North East Update May 2019\n\n"
        "Have you thought about how the region could work better together on this?\n\n"
        "Body one.\n\nWhat next?\n\nBody two.\n"
    )
    u = parse_text(text, "text", "q.txt")
    assert headings(u) == [None, "What next?"]


def test_numbered_lines_head_sections_when_the_update_numbers_two_that_way() -> None:
    text = (
        "North East Update March 2023\n\n1. Workforce\n\nThe academy opened.\n\n"
        "2) Funding\n\nAllocations are due.\n"
    )
    u = parse_text(text, "auto", "numbered.txt")
    assert headings(u) == ["Workforce", "Funding"]
    # One numbered line alone is a list item, as before.
    single = parse_text(
        "North East Update March 2023\n\n1. Workforce\n\nThe academy opened.\n", "auto", "one.txt"
    )
    assert headings(single) == [None]
    assert single.sections[0].blocks[0] == Bullets(items=("Workforce",))


def test_a_past_passive_before_the_period_is_news_not_an_event() -> None:
    text = (
        "London Update March 2023\n\nWorkforce\n\n"
        "The social work pledge was refreshed on 1 February. "
        "The forum will be refreshed on 20 March.\n"
    )
    u = parse_text(text, "auto", "past.txt")
    assert [e.start.date() for e in u.events] == [date(2023, 3, 20)]


def test_a_street_number_with_a_fraction_stays_in_the_venue() -> None:
    text = (
        "London Update March 2023\n\nYouth Justice\n\n"
        "The forum meets on 22 March 2023 at London Councils, 59½ Southwark Street.\n"
    )
    (event,) = parse_text(text, "auto", "venue.txt").events
    assert event.location == "London Councils, 59½ Southwark Street"


@pytest.mark.parametrize(
    ("written", "day"), [("6.3.23", date(2023, 3, 6)), ("06.03.2023", date(2023, 3, 6))]
)
def test_a_date_written_with_dots(written: str, day: date) -> None:
    text = (
        "Yorkshire Update March 2023\n\nSEND\n\n"
        f"The SEND conference is on {written}, 09:30 - 16:00 hrs.\n"
    )
    (event,) = parse_text(text, "auto", "dots.txt").events
    assert (event.start.date(), event.start.hour, event.start.minute) == (day, 9, 30)
    assert event.end is not None and (event.end.hour, event.end.minute) == (16, 0)
    # Mixed separators and a decimal are no date.
    other = "Yorkshire Update March 2023\n\nSEND\n\nWe spent 6.3/23 and 6.32 million.\n"
    assert parse_text(other, "auto", "none.txt").events == []


def test_a_title_goes_on_to_a_line_naming_only_its_period() -> None:
    u = parse_text("SE Regional Update\nApr-Jun 2023\n\nNews\n\nBody text.\n", "auto", "two.txt")
    assert (u.title, u.region, u.period, u.period_end) == (
        "SE Regional Update Apr-Jun 2023",
        "South East",
        "2023-04",
        "2023-06",
    )
    assert headings(u) == ["News"]
    # A line below that says more than a period is not part of the title.
    other = parse_text("SE Regional Update\nApr-Jun 2023 news\n\nBody text.\n", "auto", "x.txt")
    assert other.period is None


def test_a_featured_event_on_labelled_lines() -> None:
    text = (
        "SE Regional Update May 2023\n\nFeatured Event\nSouth East Fostering Summit\n"
        "Date: Thursday 18 May 2023\nTime: 10:00 – 15:30\nVenue: Amex Stadium, Brighton\n\n"
        "Peer Review\n\nEach authority sends two reviewers.\n"
    )
    u = parse_text(text, "auto", "labelled.txt")
    (event,) = u.events
    assert (event.title, event.location, event.featured) == (
        "South East Fostering Summit",
        "Amex Stadium, Brighton",
        True,
    )
    assert iso(event) == "2023-05-18T10:00:00+01:00"
    assert event.end is not None and event.end.isoformat() == "2023-05-18T15:30:00+01:00"
    assert headings(u) == ["Peer Review"]
    assert "Venue:" not in "\n".join(str(b) for s in u.sections for b in s.blocks)


def test_a_span_of_days_with_a_time_range_runs_from_the_first_start_to_the_last_end() -> None:
    text = (
        "SE Regional Update June 2023\n\nPeer Review\n\n"
        "The peer review residential runs 6-7 June, 9am to 5pm,"
        " at the Ashford International Hotel.\n"
    )
    (event,) = parse_text(text, "auto", "span.txt").events
    assert (iso(event), event.all_day) == ("2023-06-06T09:00:00+01:00", False)
    assert event.end is not None and event.end.isoformat() == "2023-06-07T17:00:00+01:00"
