"""The plain-text family: updates copied from the region's website.

Contract of :func:`parse_plain_text`: returns the :class:`Update` (audiences
still the default ``["dcs"]``; the caller applies the rules) and warnings, or
raises :class:`IngestError` when no title can be recognised.

What is read, beyond :mod:`newsletter.ingest.blocks`' section rules:

* the title: the first "<Region> … Update <Month> <Year>" line anywhere
  before "Related Articles"; failing that, a first line such as "London
  Update" (period None);
* website chrome is never content: the "Featured Event" block, "Tags
  assigned to this article:" with its tags line, "Related Articles" and
  everything after it (the site lists other articles there);
* the featured event: the stamp after the label ("Wed, 14 Nov 18 10:00" is
  2018-11-14 10:00 UK time).  The site prints no title for it, so a short
  line beside the stamp is used as the title when present, else "Featured
  event" — not the update's title, because the featured event is usually
  unrelated to the update (the April 2017 update features a November 2018
  event);
* text before the title that is not chrome is kept (as the opening section)
  and a warning says so — nothing is silently dropped;
* contacts: every email address in the text; events: the featured event,
  then events found in prose (:mod:`newsletter.ingest.events`).
"""

from __future__ import annotations

import re

from newsletter.content import Event, Tag, Update
from newsletter.ingest import blocks
from newsletter.ingest.contacts import find_contacts
from newsletter.ingest.dates import parse_featured
from newsletter.ingest.errors import IngestError
from newsletter.ingest.events import find_events, section_pieces
from newsletter.ingest.titles import Title, match_title

_TAG_SEPARATORS = frozenset(",;|")
_FEATURED_LABEL = re.compile(r"(?i)^featured\s+events?:?$")
_TAGS_LABEL = re.compile(r"(?i)^tags(?:\s+assigned\s+to\s+this\s+article)?\s*:\s*(?P<rest>.*)$")
_RELATED = re.compile(r"(?i)^related\s+(?:articles|posts|news)\s*:?$")
_CHROME_LINES = frozenset(
    ("share this article", "share this page", "print this page", "back to top", "back to news")
)
# Lines after a "Featured Event" label that may still belong to its block.
_FEATURED_SPAN = 5


def parse_plain_text(text: str, source_name: str) -> tuple[Update, list[str]]:
    """Parse a website-copy update; raises IngestError when it has no title."""
    warnings: list[str] = []
    lines = [line.strip() for line in text.splitlines()]
    end, tag_lines = _content_end(lines)
    title_at, title = _find_title(lines, end)
    if title is None:
        raise IngestError(
            source_name,
            "no recognisable title (expected a line like 'North East Update April 2017')",
        )
    skip = {title_at}
    featured: list[Event] = []
    for index in range(end):
        if _FEATURED_LABEL.match(lines[index]) and index not in skip:
            used, event = _featured_block(lines, index, end, title_at)
            skip.update(used)
            if event is not None:
                featured.append(event)
            else:
                warnings.append(f"'{lines[index]}' label without a date on line {index + 1}")
    content = [
        "" if i in skip or lines[i].lower() in _CHROME_LINES else lines[i] for i in range(end)
    ]
    if any(content[:title_at]):
        warnings.append("text before the title was kept as the opening section")
    # The title is a hard boundary: a short line before it never becomes a
    # heading of the text after it.
    before, after = content[:title_at], content[title_at + 1 :]
    units = blocks.units(blocks.chunks(before)) + blocks.units(blocks.chunks(after))
    sections = blocks.sections(units)
    if not sections:
        warnings.append("no content after the title")
    events = featured + find_events(section_pieces(sections), title.period, warnings)
    update = Update(
        title=title.text,
        region=title.region,
        period=title.period,
        sections=sections,
        tags=parse_tags(tag_lines),
        contacts=find_contacts(lines),
        events=events,
    )
    return update, warnings


def parse_tags(lines: list[str]) -> list[Tag]:
    """Tags from the site's tags line(s): "SLI 100 NORTH EAST 15" -> SLI (100), NORTH EAST (15).

    A name is the words before a count; names separated by commas without a
    count get ``count=None``.
    """
    tags: list[Tag] = []
    for line in lines:
        name: list[str] = []
        for token in re.findall(r"[^\s,;|]+|[,;|]", line):
            if token.isdigit() and name:
                tags.append(Tag(" ".join(name), int(token)))
                name = []
            elif token in _TAG_SEPARATORS:
                if name:
                    tags.append(Tag(" ".join(name), None))
                name = []
            else:
                name.append(token)
        if name:
            tags.append(Tag(" ".join(name), None))
    return tags


def _content_end(lines: list[str]) -> tuple[int, list[str]]:
    """Where the article ends (tags label or Related Articles) and its tag lines."""
    end = len(lines)
    for index, line in enumerate(lines):
        if _RELATED.match(line):
            end = index
            break
    for index in range(end):
        m = _TAGS_LABEL.match(lines[index])
        if m is not None:
            tag_lines = [m.group("rest"), *lines[index + 1 : end]]
            return index, [t for t in tag_lines if t]
    return end, []


def _find_title(lines: list[str], end: int) -> tuple[int, Title | None]:
    for index in range(end):
        found = match_title(lines[index], need_date=True)
        if found is not None:
            return index, found
    # No dated title: accept an undated one only as the first real line.
    for index in range(end):
        line = lines[index]
        if not line or _FEATURED_LABEL.match(line) or parse_featured(line):
            continue
        return index, match_title(line, need_date=False)
    return 0, None


def _featured_block(
    lines: list[str], label_at: int, end: int, title_at: int
) -> tuple[set[int], Event | None]:
    """Line indexes of the featured block starting at ``label_at``, and its event."""
    used = {label_at}
    window = range(label_at + 1, min(end, label_at + 1 + _FEATURED_SPAN * 2))
    others: list[str] = []
    stamp: tuple[int, str] | None = None
    for index in window:
        line = lines[index]
        if index == title_at or _FEATURED_LABEL.match(line):
            break
        if not line:
            continue
        if stamp is None and parse_featured(line) is not None:
            stamp = (index, line)
            used.add(index)
            # Before the title everything up to it is the widget; after the
            # title, stop at the stamp so a section heading is not swallowed.
            if title_at < label_at:
                break
            continue
        if len(line) > 80 or line.endswith(".") or len(others) >= 2:
            break
        others.append(line)
        used.add(index)
    if stamp is None:
        return {label_at}, None
    parsed = parse_featured(stamp[1])
    assert parsed is not None  # checked when the stamp was chosen
    start, end_time, all_day = parsed
    return used, Event(
        title=others[0] if others else "Featured event",
        start=start,
        end=end_time,
        all_day=all_day,
        location=others[1] if len(others) > 1 else None,
        featured=True,
        source="\n".join(lines[i] for i in sorted(used - {label_at})),
    )
