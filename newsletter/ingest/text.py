"""The plain-text family: updates copied from the region's website.

Contract of :func:`parse_plain_text`: returns the :class:`Update` (audiences
still the default ``["dcs"]``; the caller applies the rules) and warnings.
It never refuses a file for its title: a title it cannot place is kept with
the region or period missing and a warning.

What is read, beyond :mod:`newsletter.ingest.blocks`' section rules:

* the title: the first title-shaped line (:func:`~newsletter.ingest.titles.
  looks_like_title`: the update word with a region or period, in any order)
  anywhere before "Related Articles"; failing that, the first real line,
  whatever it says;
* website chrome is never content: "Featured Event" blocks (with or without
  a date), "Tags assigned to this article:" with its tag lines — wherever it
  stands, before or after "Related Articles" — and "Related Articles" with
  the other articles the site lists after it;
* the featured event: the stamp after the label ("Wed, 14 Nov 18 10:00" is
  2018-11-14 10:00 UK time).  Its title is a short line beside the stamp when
  there is one; else the title of an event the text mentions on the same day
  (the two are merged); else one made from the update ("North East Region
  Update: featured event, 14 November 2018"), marked ``needs_title`` with a
  warning so an organiser names it;
* years of dates written without one: from the title's period; without a
  period, from the update's own date ("Published 3 March 2019") or else the
  ingest date, with a warning naming each date;
* text before the title that is not chrome is kept (as the opening section)
  and a warning says so — nothing is silently dropped;
* contacts: every email address in the text; events: the featured events,
  then events found in prose (:mod:`newsletter.ingest.events`).
"""

from __future__ import annotations

import re
from datetime import date, datetime

from newsletter.content import UK_TIMEZONE, Event, Tag, Update
from newsletter.events.event import placeholder_title
from newsletter.ingest import blocks
from newsletter.ingest.contacts import find_contacts
from newsletter.ingest.dates import UK, parse_featured
from newsletter.ingest.events import DATE_RE, YearHints, find_events, section_pieces
from newsletter.ingest.periods import MONTH_NAMES, month_number
from newsletter.ingest.regions import Regions, load_regions
from newsletter.ingest.titles import Title, looks_like_title, read_title

_TAG_SEPARATORS = frozenset(",;|")
_FEATURED_LABEL = re.compile(r"(?i)^featured\s+events?:?$")
_TAGS_LABEL = re.compile(r"(?i)^tags(?:\s+assigned\s+to\s+this\s+article)?\s*:\s*(?P<rest>.*)$")
_RELATED = re.compile(r"(?i)^related\s+(?:articles|posts|news)\s*:?$")
_CHROME_LINES = frozenset(
    ("share this article", "share this page", "print this page", "back to top", "back to news")
)
_DATE_LINE = re.compile(
    r"(?i)^(?:published|posted|date|updated|last\s+updated)(?:\s+on)?\s*:?\s+(?P<date>.{6,40})$"
)
# Lines after a "Featured Event" label that may still belong to its block.
_FEATURED_SPAN = 5


def parse_plain_text(
    text: str, source_name: str, *, today: date | None = None
) -> tuple[Update, list[str]]:
    """Parse a website-copy update (see the module docstring); never fails on its title.

    ``today`` is the ingest date, the last resort for dates without a year.
    """
    warnings: list[str] = []
    regions = load_regions()
    lines = [line.strip() for line in text.splitlines()]
    end = next((i for i, line in enumerate(lines) if _RELATED.match(line)), len(lines))
    skip, tag_lines = _tag_blocks(lines)
    title_at, title = _find_title(lines, end, skip, regions)
    _warn_about_title(title, title_at, warnings)
    skip.add(title_at)
    featured: list[tuple[int, Event]] = []
    for index in range(end):
        if _FEATURED_LABEL.match(lines[index]) and index not in skip:
            used, event, named = _featured_block(lines, index, end, title_at)
            skip.update(used)
            if event is not None:
                featured.append((index, event))
            elif named:
                warnings.append(
                    f"line {index + 1}: featured event {named!r} has no date: kept out of the"
                    " body, not made an event"
                )
            else:
                warnings.append(f"line {index + 1}: '{lines[index]}' label without a date")
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
    period = title.period
    fallback, fallback_from = (None, "") if period else _fallback_month(lines, end, today)
    hints = YearHints(
        period=period.start if period else None,
        period_end=period.end if period else None,
        fallback=fallback,
        fallback_from=fallback_from,
        lines=tuple(lines[:end]),
    )
    prose = find_events(section_pieces(sections), hints, warnings)
    events = _merge_featured(featured, prose, title, warnings) + prose
    update = Update(
        title=title.text,
        region=title.region,
        period=period.start if period else None,
        period_end=period.end if period else None,
        period_label=period.label if period else None,
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


def _tag_blocks(lines: list[str]) -> tuple[set[int], list[str]]:
    """Line indexes of every tags block (label and its lines) and the tag lines.

    A block is the label (tags may follow it on the same line) and the
    non-blank lines right after it, up to a blank line or another label.
    """
    used: set[int] = set()
    tag_lines: list[str] = []
    for index, line in enumerate(lines):
        m = _TAGS_LABEL.match(line)
        if m is None or index in used:
            continue
        used.add(index)
        if m.group("rest").strip():
            tag_lines.append(m.group("rest").strip())
        following = index + 1
        while following < len(lines) and lines[following]:
            if _RELATED.match(lines[following]) or _TAGS_LABEL.match(lines[following]):
                break
            used.add(following)
            tag_lines.append(lines[following])
            following += 1
    return used, tag_lines


def _find_title(lines: list[str], end: int, skip: set[int], regions: Regions) -> tuple[int, Title]:
    for index in range(end):
        if index in skip or _FEATURED_LABEL.match(lines[index]):
            continue
        found = looks_like_title(lines[index], regions)
        if found is not None:
            return index, found
    # No title-shaped line: the first real line is the title, whatever it says.
    for index in range(end):
        line = lines[index]
        if not line or index in skip or _FEATURED_LABEL.match(line) or parse_featured(line):
            continue
        return index, read_title(line, regions)
    first = next((i for i, line in enumerate(lines) if line), 0)
    return first, read_title(lines[first] or "Untitled update", regions)


def _warn_about_title(title: Title, at: int, warnings: list[str]) -> None:
    where = f"line {at + 1}: title {title.text[:80]!r}"
    if title.period is None:
        warnings.append(
            f"{where} names no period (e.g. 'April 2019', 'Spring 2019', 'Quarter 2 2019/20');"
            " stored without one"
        )
    if title.region is None:
        named = f" ({title.unplaced!r} is not a known region)" if title.unplaced else ""
        warnings.append(
            f"{where} names no known region{named}; add it to the regions file"
            " (NEWSLETTER_REGIONS_PATH) or correct the update"
        )


def _fallback_month(lines: list[str], end: int, today: date | None) -> tuple[str, str]:
    """The month yearless dates are read against without a period, and where it came from."""
    for index in range(min(end, 40)):
        m = _DATE_LINE.match(lines[index])
        found = DATE_RE.search(m.group("date")) if m else None
        if found is not None and found.group("year") and found.group("month"):
            month = month_number(found.group("month"))
            return (
                f"{found.group('year')}-{month:02d}",
                f"the update's date on line {index + 1}",
            )
    day = today or datetime.now(UK).date()
    return f"{day.year:04d}-{day.month:02d}", f"the ingest date, {_long_date(day)}"


def _long_date(day: date) -> str:
    return f"{day.day} {MONTH_NAMES[day.month - 1]} {day.year}"


def _merge_featured(
    featured: list[tuple[int, Event]], prose: list[Event], title: Title, warnings: list[str]
) -> list[Event]:
    """Featured events with a title each; a prose event of the same occasion merges in."""
    out: list[Event] = []
    for line_at, event in featured:
        same = next((p for p in prose if _same_occasion(event, p)), None)
        if same is not None:
            prose.remove(same)
            if event.needs_title:
                event.title = same.title
                event.needs_title = False
            event.location = event.location or same.location
            if event.all_day and not same.all_day:
                event.start, event.end, event.all_day = same.start, same.end, False
        if event.needs_title:
            on = _long_date(event.start.date())
            event.title = placeholder_title(title.region, event.start.date())
            warnings.append(
                f"line {line_at + 1}: the featured event on {on} needs a title (the site"
                f" printed none): called {event.title!r} until an organiser names it"
            )
        out.append(event)
    return out


def _same_occasion(featured: Event, prose: Event) -> bool:
    if featured.start.date() != prose.start.date():
        return False
    return featured.all_day or prose.all_day or featured.start == prose.start


def _featured_block(
    lines: list[str], label_at: int, end: int, title_at: int
) -> tuple[set[int], Event | None, str | None]:
    """Line indexes of the featured block at ``label_at``, its event, and its title if undated."""
    used = {label_at}
    window = range(label_at + 1, min(end, label_at + 1 + _FEATURED_SPAN * 2))
    others: list[str] = []
    stamp: tuple[int, str] | None = None
    stop = window.stop
    for index in window:
        line = lines[index]
        if index == title_at or _FEATURED_LABEL.match(line) or _TAGS_LABEL.match(line):
            stop = index
            break
        if not line:
            continue
        if stamp is None and parse_featured(line) is not None:
            stamp = (index, line)
            used.add(index)
            # Before the title everything up to it is the widget; after the
            # title, stop at the stamp so a section heading is not swallowed.
            if title_at < label_at:
                stop = index + 1
                break
            continue
        if len(line) > 80 or line.endswith(".") or len(others) >= 2:
            stop = index
            break
        others.append(line)
        used.add(index)
    if stamp is None:
        # An undated block: its short lines are its title (and place) unless
        # body text follows them directly, which makes the first a heading.
        following = next((line for line in lines[stop:end] if line), "")
        if others and title_at < label_at and following and _is_body(following):
            # The last short line heads the body that follows it.
            heading = others.pop()
            used.discard(next(i for i in sorted(used, reverse=True) if lines[i] == heading))
        if not others:
            return {label_at}, None, None
        return used, None, others[0]
    parsed = parse_featured(stamp[1])
    assert parsed is not None  # checked when the stamp was chosen
    start, end_time, all_day = parsed
    return (
        used,
        Event(
            title=others[0] if others else "Featured event",
            start=start,
            end=end_time,
            all_day=all_day,
            timezone=UK_TIMEZONE,
            location=others[1] if len(others) > 1 else None,
            featured=True,
            source="\n".join(lines[i] for i in sorted(used - {label_at})),
            needs_title=not others,
        ),
        None,
    )


def _is_body(line: str) -> bool:
    return len(line) > 80 or line.endswith((".", ":", "!", "?"))
