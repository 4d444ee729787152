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
  a date), "Tags assigned to this article:" (or "Tags:", "Keywords -") with
  its tag lines — wherever it stands, before or after "Related Articles" —
  and "Related Articles" with the other articles the site lists after it;
* the featured event: the date line in the block — the site's stamp ("Wed,
  14 Nov 18 10:00" is 2018-11-14 10:00 UK time) or one an organiser wrote
  ("Tuesday 3rd March 2020, 10:00–12:30", "3/3/2020 at 2pm", "10am to 1pm on
  12 March", with a place in brackets: "(online)"), on the label's line
  ("Featured event: …") or after it.  Its title is a short line beside the
  date when there is one (the next is its place); else the title of an
  event the text mentions on the same day (the two are merged); else one
  made from the update ("North East Region Update: featured event, 14
  November 2018"), marked ``needs_title`` with a warning so an organiser
  names it;
* a period the title names without its year ("Autumn Update"): placed by
  the update's own date, else by the dates it writes with their year, with
  a warning;
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
from newsletter.ingest.events import (
    DATE_RE,
    MAX_DATES,
    YearHints,
    date_matches,
    find_events,
    read_stamp,
    section_pieces,
)
from newsletter.ingest.periods import MONTH_NAMES, Period, Yearless, month_number
from newsletter.ingest.regions import Regions, load_regions
from newsletter.ingest.titles import Title, looks_like_title, read_title

_TAG_SEPARATORS = frozenset(",;|")
_FEATURED_LABEL = re.compile(r"(?i)^featured\s+events?(?:\s*(?::|-|–|—)\s*(?P<rest>.*))?$")
#: Longest text after "Featured event:" on its line that is still the event's
#: date or name; a longer one is body text that happens to start so.
_MAX_INLINE_FEATURED = 80
_TAGS_LABEL = re.compile(
    r"(?i)^(?:tags(?:\s+assigned\s+to\s+this\s+article)?|key\s?words)\s*(?::|-|–|—)\s*"
    r"(?P<rest>.*)$"
)
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
    period = title.period
    if period is None and title.yearless is not None:
        period = _place_yearless(title.yearless, lines, end, title_at, warnings)
    _warn_about_title(title, title_at, period, warnings)
    skip.add(title_at)
    fallback, fallback_from = (None, "") if period else _fallback_month(lines, end, today)
    hints = YearHints(
        period=period.start if period else None,
        period_end=period.end if period else None,
        fallback=fallback,
        fallback_from=fallback_from,
        lines=tuple(lines[:end]),
    )
    featured: list[tuple[int, Event]] = []
    for index in range(end):
        if (
            index not in skip
            and _FEATURED_LABEL.match(lines[index])
            and _featured_label(lines[index]) is not None
        ):
            used, event, named = _featured_block(lines, index, end, title_at, hints, warnings)
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
        if index in skip or _featured_label(lines[index]) is not None:
            continue
        found = looks_like_title(lines[index], regions)
        if found is not None:
            return index, found
    # No title-shaped line: the first real line is the title, whatever it says.
    for index in range(end):
        line = lines[index]
        if not line or index in skip or _featured_label(line) is not None or parse_featured(line):
            continue
        return index, read_title(line, regions)
    first = next((i for i, line in enumerate(lines) if line), 0)
    return first, read_title(lines[first] or "Untitled update", regions)


def _warn_about_title(title: Title, at: int, period: Period | None, warnings: list[str]) -> None:
    where = f"line {at + 1}: title {title.text[:80]!r}"
    if period is None:
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


def _place_yearless(
    yearless: Yearless, lines: list[str], end: int, title_at: int, warnings: list[str]
) -> Period | None:
    """The title's yearless period put in a year, from the update's own date or its dates.

    The update's date ("Published: 3 March 2019") decides when there is one;
    else each date written with its year votes for the placing nearest it,
    and the most voted wins (the latest of equals).  None without any.
    """
    published = _update_date(lines, end)
    if published is not None:
        period = yearless.placed(published[0])
        source = published[1]
    else:
        votes: dict[Period, int] = {}
        for index in range(end):
            if index == title_at or not lines[index]:
                continue
            for m in date_matches(" ".join(lines[index].split())):
                month = _full_month(m)
                if month is not None:
                    placed = yearless.placed(month)
                    votes[placed] = votes.get(placed, 0) + 1
            if sum(votes.values()) >= MAX_DATES:
                break
        if not votes:
            return None
        period = max(votes, key=lambda p: (votes[p], p.start))
        source = "the dates the update gives with their year"
    warnings.append(
        f"line {title_at + 1}: title {lines[title_at][:80]!r} names its period without a year:"
        f" read as {period.label} from {source}"
    )
    return period


def _full_month(m: re.Match[str]) -> str | None:
    """ "YYYY-MM" of a :data:`DATE_RE` match written with its year, else None."""
    if m.group("year") and m.group("month"):
        return f"{m.group('year')}-{month_number(m.group('month')):02d}"
    if m.group("uyear") and m.group("umonth"):
        return f"{m.group('uyear')}-{month_number(m.group('umonth')):02d}"
    if m.group("nyear") and len(m.group("nyear")) == 4 and 1 <= int(m.group("nmonth")) <= 12:
        return f"{m.group('nyear')}-{int(m.group('nmonth')):02d}"
    return None


def _update_date(lines: list[str], end: int) -> tuple[str, str] | None:
    """The month of the update's own date ("Published: 3 March 2019") and where it is."""
    for index in range(min(end, 40)):
        m = _DATE_LINE.match(lines[index])
        found = DATE_RE.search(m.group("date")) if m else None
        if found is not None and found.group("year") and found.group("month"):
            month = month_number(found.group("month"))
            return f"{found.group('year')}-{month:02d}", f"the update's date on line {index + 1}"
    return None


def _fallback_month(lines: list[str], end: int, today: date | None) -> tuple[str, str]:
    """The month yearless dates are read against without a period, and where it came from."""
    published = _update_date(lines, end)
    if published is not None:
        return published
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


def _featured_label(line: str) -> str | None:
    """What follows a "Featured Event" label on its line ("" for none); None if no label."""
    m = _FEATURED_LABEL.match(line)
    if m is None:
        return None
    rest = (m.group("rest") or "").strip()
    if len(rest) > _MAX_INLINE_FEATURED or rest.endswith("."):
        return None
    return rest


Stamp = tuple[datetime, datetime | None, bool, str | None]


def _stamp(line: str, hints: YearHints, warnings: list[str]) -> Stamp | None:
    """A featured event's date line: one an organiser wrote, or the site's stamp.

    The organiser's form is tried first: it keeps a place written beside the
    times ("13:00 – 15:30 (online)"), which the site's stamp has no room for.
    """
    written = read_stamp(line, hints, warnings)
    if written is not None:
        return written
    website = parse_featured(line)
    return None if website is None else (*website, None)


def _featured_block(
    lines: list[str],
    label_at: int,
    end: int,
    title_at: int,
    hints: YearHints,
    warnings: list[str],
) -> tuple[set[int], Event | None, str | None]:
    """Line indexes of the featured block at ``label_at``, its event, and its title if undated.

    The block is the label (the date or name may follow it on its line:
    "Featured event: 3/3/2020 at 2pm"), the date line, and up to two short
    lines (the name, then the place).  Before the title everything up to it
    is the site's widget; after the title the block ends at the first blank
    line after its date, so that a section heading after it is not swallowed.
    """
    used = {label_at}
    others: list[str] = []
    stamp: tuple[int, Stamp] | None = None
    inline = _featured_label(lines[label_at]) or ""
    if inline:
        parsed = _stamp(inline, hints, warnings)
        if parsed is not None:
            stamp = (label_at, parsed)
        else:
            others.append(inline)
    window = range(label_at + 1, min(end, label_at + 1 + _FEATURED_SPAN * 2))
    stop = window.stop
    for index in window:
        line = lines[index]
        if index == title_at or _featured_label(line) is not None or _TAGS_LABEL.match(line):
            stop = index
            break
        if not line:
            if stamp is not None and title_at < label_at:
                stop = index
                break
            continue
        if stamp is None:
            parsed = _stamp(line, hints, warnings)
            if parsed is not None:
                stamp = (index, parsed)
                used.add(index)
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
        last_line = max(used)
        if last_line != label_at and title_at < label_at and following and _is_body(following):
            # The last short line heads the body that follows it.
            others.pop()
            used.discard(last_line)
        if not others:
            return {label_at}, None, None
        return used, None, others[0]
    start, end_time, all_day, place = stamp[1]
    return (
        used,
        Event(
            title=others[0] if others else "Featured event",
            start=start,
            end=end_time,
            all_day=all_day,
            timezone=UK_TIMEZONE,
            location=others[1] if len(others) > 1 else place,
            featured=True,
            source="\n".join([inline, *(lines[i] for i in sorted(used - {label_at}))]).strip(),
            needs_title=not others,
        ),
        None,
    )


def _is_body(line: str) -> bool:
    return len(line) > 80 or line.endswith((".", ":", "!", "?"))
