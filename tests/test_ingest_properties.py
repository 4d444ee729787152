"""Property-based: whatever the input, ingest fails only with IngestError."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsletter.content import Update
from newsletter.errors import UserError
from newsletter.ingest import IngestError, parse_bytes, parse_text
from newsletter.ingest.audiences import load_rules
from newsletter.ingest.events import DATE_RE, date_matches, find_events
from newsletter.ingest.periods import months_between
from newsletter.ingest.reading import decode
from newsletter.ingest.titles import read_title

RULES = load_rules()
FORMATS = st.sampled_from(["auto", "text", "markdown", "json"])
TITLE = "North East Update April 2017"

# Text that looks like an update: family lines mixed with arbitrary ones.
FAMILY_LINES = st.sampled_from(
    [
        TITLE,
        "",
        "",
        "Featured Event",
        "Wed, 14 Nov 18 10:00",
        "Tags assigned to this article:",
        "SLI 100 NORTH EAST 15",
        "Related Articles",
        "Workforce Development",
        "• Item on 5 March at 10am",
        "- 1 Feb",
        "The meeting will take place on 31 February 2019 in Durham.",
        "On 29 February at 25:00 in Leeds; 30 April - 2 May 2020 at noon.",
        "Contact a.b@example.org.",
        "---",
        "# Heading",
        "{",
        "What next?",
        "February 2019: East of England update",
        "North West October Update 2018",
        "South East Region Update – Quarter 2 2019/20",
        "West Midlands Update Winter 2018/19",
        "Featured Event",
        "Regional Practice Awards",
        "Tags: LONDON 12, SAFEGUARDING 4",
        "The workshop is between 10 and 12 June at Kent County Council offices in Maidstone.",
        "It ran from 8 to 12 July; the DCS meeting on 5 July at 9.30am–3.30pm, 10am to noon.",
        "The Act came into force on 4 September 2017 and went live on 1 March.",
        "Published: 3 March 2019",
        "> > > > > quoted",
    ]
)
FAMILY_TEXT = st.lists(st.one_of(FAMILY_LINES, st.text(max_size=40)), max_size=30).map("\n".join)


def parse_or_ingest_error(text: str, fmt: str) -> Update | None:
    try:
        update = parse_text(text, fmt, "prop.txt", rules=RULES)
    except IngestError as error:
        assert error.path == "prop.txt"
        assert error.reason
        return None
    # Whatever parses serialises to the documented shape and back.
    data = update.to_json()
    assert Update.from_json(json.loads(json.dumps(data))).to_json() == data
    assert all(s.audiences[0] == "dcs" for s in update.sections)
    return update


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(), FORMATS)
def test_arbitrary_text(text: str, fmt: str) -> None:
    parse_or_ingest_error(text, fmt)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(FAMILY_TEXT, FORMATS)
def test_family_shaped_text(text: str, fmt: str) -> None:
    parse_or_ingest_error(text, fmt)


@settings(max_examples=200)
@given(st.text(max_size=200))
def test_text_after_a_title_always_parses(body: str) -> None:
    update = parse_or_ingest_error(f"{TITLE}\n\n{body.replace(chr(0), '')}", "text")
    if update is not None:
        assert update.title == TITLE


@settings(max_examples=300)
@given(st.binary(max_size=400), FORMATS)
def test_arbitrary_bytes(data: bytes, fmt: str) -> None:
    try:
        parse_bytes(data, "prop.bin", fmt, rules=RULES)
    except IngestError as error:
        assert error.path == "prop.bin"


@settings(max_examples=200)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=10),
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(
                st.sampled_from(["title", "sections", "events", "tags", "start", "type", "items"]),
                inner,
                max_size=4,
            )
        ),
        max_leaves=20,
    )
)
def test_arbitrary_json_values(value: object) -> None:
    parse_or_ingest_error(json.dumps(value), "json")


def test_the_documented_error_is_a_user_error() -> None:
    # The CLI and the web app answer every UserError as bad input (exit 2, 4xx).
    assert issubclass(IngestError, UserError)


TITLE_PARTS = st.sampled_from(
    [
        *("North East", "East of England", "Yorkshire & Humber", "London", "Cumbria"),
        *("Update", "Region Update", "update", "-", "–", ":", "/", "Q3", "Quarter 2"),
        *("Spring", "Winter", "2018/19", "2019", "2019-20", "December", "Sept", "Jan"),
    ]
)


@settings(max_examples=300)
@given(st.lists(st.one_of(TITLE_PARTS, st.text(max_size=8)), max_size=10).map(" ".join))
def test_any_title_reads_to_a_sane_period(line: str) -> None:
    title = read_title(line)
    if title.period is not None:
        assert title.period.start <= title.period.end
        assert 1 <= months_between(title.period.start, title.period.end) <= 12
        assert title.period.label


DATE_WORDS = st.sampled_from(
    [
        *("5", "12", "March", "May", "Mayor", "on", "and", "-", "–", "to", "2019", "the"),
        *("Wednesday", "Wed,", "12th", "of", "Sept", "05/03/2019", "1/2", "June", "5th,"),
        *("Jan.", "Dec", "13", "between", "from", "at", "10am", "9.30–3.30pm", "noon"),
    ]
)
DATE_TEXT = st.lists(st.one_of(DATE_WORDS, st.text(max_size=6)), max_size=60).map(" ".join)


@settings(max_examples=300)
@given(DATE_TEXT)
def test_date_scan_finds_what_the_full_pattern_finds(text: str) -> None:
    text = " ".join(text.split())  # as find_events gives it
    assert [m.span() for m in date_matches(text)] == [m.span() for m in DATE_RE.finditer(text)]


@settings(max_examples=300)
@given(DATE_TEXT, st.sampled_from([None, "2019-03", "2018-12"]))
def test_prose_events_are_well_formed(text: str, period: str | None) -> None:
    warnings: list[str] = []
    for event in find_events([(None, text)], period, warnings):
        assert event.title.strip()
        assert event.end is None or event.end > event.start
        assert event.source


@settings(max_examples=200)
@given(
    st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=80),
    st.binary(min_size=1, max_size=3).filter(lambda b: all(0x80 <= x <= 0xBF for x in b)),
)
def test_a_stray_byte_spoils_only_itself(good: str, stray: bytes) -> None:
    line = "Children’s services " + good.replace("\n", " ")
    data = f"{line}\nsecond line ’\n".encode() + stray + b"\n"
    try:
        text, warnings = decode(data, "mixed.txt")
    except IngestError:
        return  # mostly not text: refused, with a reason
    assert text.startswith(line + "\nsecond line ’\n")
    assert any("line 3" in w for w in warnings)
