"""Markdown updates: front matter, headings, lists, inline markup, events."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsletter.content import Bullets, Paragraph, Tag
from newsletter.ingest import IngestError, parse_bytes, parse_file, parse_text

UPDATE_MD = """\
---
title: North East Update October 2019
period: 2019-10
tags:
  - SLI
  - {name: NORTH EAST, count: 16}
contacts: [network@example.org]
events:
  - title: Regional DCS meeting
    start: 2019-11-14 10:00
    end: 2019-11-14T12:30:00
    location: Durham County Hall
    featured: true
  - title: Lead member away day
    start: 2019-12-02
---

# North East Update October 2019

Welcome to the **October** update. See [the site](https://example.org/ne) or
write to <jane@example.gov.uk>.

## Workforce / Recruitment

The apprentice scheme opens on 5 November.

- First *item*
- Second item
  - nested item

1. Numbered one
2. Numbered two

### Lead members

> Lead member network notes.
"""


def test_markdown_update_field_by_field(tmp_path: Path) -> None:
    path = tmp_path / "october.md"
    path.write_text(UPDATE_MD, encoding="utf-8")
    result = parse_file(path)
    u = result.update
    assert result.format == "markdown"
    assert u.title == "North East Update October 2019"
    assert u.region == "North East"
    assert u.period == "2019-10"
    assert [s.heading for s in u.sections] == [None, "Workforce / Recruitment", "Lead members"]
    assert u.sections[0].blocks == [
        Paragraph(
            "Welcome to the October update. See the site (https://example.org/ne) or "
            "write to jane@example.gov.uk."
        )
    ]
    assert u.sections[1].blocks == [
        Paragraph("The apprentice scheme opens on 5 November."),
        Bullets(("First item", "Second item", "nested item", "Numbered one", "Numbered two")),
    ]
    assert u.sections[2].blocks == [Paragraph("Lead member network notes.")]
    assert u.sections[1].audiences == ["dcs", "workforce-lead"]
    assert u.sections[2].audiences == ["dcs", "lead-member"]
    assert u.tags == [Tag("SLI", None), Tag("NORTH EAST", 16)]
    assert u.contacts == ["network@example.org", "jane@example.gov.uk"]
    # Front-matter events replace the ones found in prose ("5 November").
    first, second = u.events
    assert (first.title, first.start.isoformat(), first.featured) == (
        "Regional DCS meeting",
        "2019-11-14T10:00:00+00:00",
        True,
    )
    assert first.end is not None and first.end.isoformat() == "2019-11-14T12:30:00+00:00"
    assert first.location == "Durham County Hall"
    assert (second.all_day, second.start.isoformat(), second.featured) == (
        True,
        "2019-12-02T00:00:00+00:00",
        False,
    )


def test_markdown_without_front_matter_uses_h1_and_prose_events() -> None:
    text = "# South West Update May 2021\n\n## Events\n\nWe meet on 3 June at 2pm in Exeter.\n"
    u = parse_text(text, "auto", "sw")
    assert (u.title, u.region, u.period) == ("South West Update May 2021", "South West", "2021-05")
    assert [e.start.isoformat() for e in u.events] == ["2021-06-03T14:00:00+01:00"]
    assert u.events[0].location == "Exeter"


def test_markdown_title_need_not_follow_the_family_pattern() -> None:
    u = parse_text("# Autumn round-up\n\nBody text.\n", "markdown", "r.md")
    assert (u.title, u.region, u.period) == ("Autumn round-up", None, None)


def test_markdown_front_matter_region_and_period_win() -> None:
    text = "---\ntitle: Special\nregion: London\nperiod: 2022-03\n---\nText.\n"
    u = parse_text(text, "markdown", "s.md")
    assert (u.title, u.region, u.period) == ("Special", "London", "2022-03")
    assert u.sections[0].heading is None


@pytest.mark.parametrize(
    ("front", "field"),
    [
        ("title: [a, b]", "title"),
        ("period: October", "period"),
        ("events: {a: 1}", "events"),
        ("events:\n  - start: 2019-01-01", "events[0].title"),
        ("events:\n  - title: X", "events[0].start"),
        ("events:\n  - title: X\n    start: soon", "events[0].start"),
        ("events:\n  - title: X\n    start: 2019-01-02\n    end: 2019-01-01", "events[0].end"),
        ("events:\n  - title: X\n    start: 2019-01-02\n    featured: maybe", "featured"),
        ("tags: [{count: 3}]", "tags[0]"),
        ("title: [unclosed", "not valid YAML"),
        ("- a list", "front matter"),
    ],
)
def test_bad_front_matter_names_the_field(front: str, field: str) -> None:
    with pytest.raises(IngestError) as caught:
        parse_text(f"---\n{front}\n---\n# T\n\nBody.\n", "markdown", "bad.md")
    assert caught.value.path == "bad.md"
    assert field in caught.value.reason


def test_markdown_without_title_is_stored_with_a_warning() -> None:
    result = parse_bytes(b"## Only a section\n\nBody.\n", "n.md")
    assert result.update.title == "Only a section"
    assert [s.heading for s in result.update.sections] == [None]
    assert any("no '# Title' line" in w for w in result.warnings)
    long_first = b"A first paragraph that runs on for quite a few words indeed, ending here.\n"
    kept = parse_bytes(long_first, "l.md").update
    assert kept.title == "A first paragraph that runs on for quite a few…"
    assert kept.sections[0].blocks


def test_unknown_front_matter_key_is_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "w.md"
    path.write_text("---\ntitle: T\nauthor: me\n---\nBody.\n", encoding="utf-8")
    assert any("author" in w for w in parse_file(path).warnings)


FEATURED_QUOTE_MD = """\
# ADCS North West – Summer 2022 update

> **Featured event**
> **Thursday 14 July 2022, 10.00–15.30**
> North West Practice Leaders Conference
> Emirates Old Trafford, Manchester

## Events

* The Lead Member network meets on 21 June, 2pm–4pm, at Liverpool Town Hall.
* The SEND data workshop is on 14 July from 9.30am to 12 noon.

**Tags:** North West (18), Sufficiency (4)
"""


def test_markdown_featured_block_quote_and_tags_paragraph() -> None:
    result = parse_bytes(FEATURED_QUOTE_MD.encode(), "nw.md")
    u = result.update
    featured, network, workshop = u.events
    assert (featured.title, featured.location, featured.featured) == (
        "North West Practice Leaders Conference",
        "Emirates Old Trafford, Manchester",
        True,
    )
    assert (featured.start.isoformat(), featured.end and featured.end.isoformat()) == (
        "2022-07-14T10:00:00+01:00",
        "2022-07-14T15:30:00+01:00",
    )
    # Another occasion on the featured day at another time stays its own event.
    assert (network.title, workshop.title) == ("Lead Member network", "SEND data workshop")
    assert workshop.end is not None and workshop.end.isoformat() == "2022-07-14T12:00:00+01:00"
    assert u.tags == [Tag("North West", 18), Tag("Sufficiency", 4)]
    body = str(u.to_json()["sections"])
    assert "Featured event" not in body and "Tags" not in body and "Old Trafford" not in body
    assert [s.heading for s in u.sections] == ["Events"]


def test_markdown_featured_heading_takes_the_paragraph_under_it() -> None:
    text = (
        "---\ntags: [South West]\n---\n\n# South West ADCS Update – March 2022\n\n"
        "## Featured event\n\n**SEND Leaders' Summit**  \nWednesday 30 March 2022 · 9.30am –"
        " 3.30pm  \nSandy Park, Exeter\n\n## SEND\n\nThe partnership met in February.\n"
    )
    u = parse_text(text, "markdown", "sw.md")
    [event] = u.events
    assert (event.title, event.location, event.featured) == (
        "SEND Leaders' Summit",
        "Sandy Park, Exeter",
        True,
    )
    assert event.start.isoformat() == "2022-03-30T09:30:00+01:00"
    assert [s.heading for s in u.sections] == ["SEND"]
    assert u.tags == [Tag("South West", None)]


def test_markdown_featured_heading_without_a_date_is_kept_out_with_a_warning() -> None:
    text = (
        "# London Update May 2022\n\n## Featured event\n\nLondon Practice Week\n\n## News\n\nX.\n"
    )
    result = parse_bytes(text.encode(), "l.md")
    assert result.update.events == []
    assert [s.heading for s in result.update.sections] == ["News"]
    assert any("'London Practice Week' has no date" in w for w in result.warnings)


def test_markdown_heading_over_sub_headings_keeps_its_section() -> None:
    text = "# London Update May 2022\n\n## Workforce\n\n### Apprenticeships\n\nThey start soon.\n"
    u = parse_text(text, "markdown", "l.md")
    assert [(s.heading, len(s.blocks)) for s in u.sections] == [
        ("Workforce", 0),
        ("Apprenticeships", 1),
    ]


def test_featured_events_stop_at_the_cap_with_a_warning() -> None:
    """A pasted or hostile file of featured blocks makes at most MAX_FEATURED events."""
    from newsletter.ingest.featured import MAX_FEATURED

    block = "> **Featured event**\n> {day} March 2019, 10.00–12.30\n> Forum {day}\n\n"
    blocks = "".join(block.format(day=1 + i % 28) for i in range(MAX_FEATURED + 10))
    text = "# North East Update April 2017\n\n" + blocks
    result = parse_bytes(text.encode(), "many.md", "markdown")
    featured = [e for e in result.update.events if e.featured]
    assert len(featured) == MAX_FEATURED
    assert any(f"more than {MAX_FEATURED} featured events" in w for w in result.warnings)
