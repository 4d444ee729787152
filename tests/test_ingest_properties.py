"""Property-based: whatever the input, ingest fails only with IngestError."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsletter.content import Update
from newsletter.ingest import IngestError, parse_bytes, parse_text
from newsletter.ingest.audiences import load_rules

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
