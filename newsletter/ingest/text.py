"""The plain-text family: updates copied from the region's website.

Contract of :func:`parse_plain_text`: returns the :class:`Update` (audiences
still the default ``["dcs"]``; the caller applies the rules) and warnings.
It never refuses a file for its title: a title it cannot place is kept with
the region or period missing and a warning.

What is read, beyond :mod:`newsletter.ingest.blocks`' section rules:

* the title: the first title-shaped line (:func:`~newsletter.ingest.titles.
  looks_like_title`: the update word with a region or period, in any order)
  anywhere before "Related Articles"; failing that, the first real line,
  whatever it says; a title naming no period goes on to the next line when
  that line (directly below it) names a period and nothing else;
* website chrome is never content: "Featured Event" blocks (with or without
  a date; :mod:`newsletter.ingest.featured` reads them and their event),
  "Tags assigned to this article:" (or "Tags:", "Keywords -") with its tag
  lines (:mod:`newsletter.ingest.tags`) — wherever it stands, before or
  after "Related Articles" — "Related Articles" with the other articles the
  site lists after it, and the web page's furniture (breadcrumbs, share and
  print links, the footer: :mod:`newsletter.ingest.chrome`), which is never
  taken for the title either;
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

from newsletter.content import Event, Update
from newsletter.ingest import blocks
from newsletter.ingest.chrome import is_chrome
from newsletter.ingest.contacts import find_contacts
from newsletter.ingest.dates import UK, long_date, parse_featured
from newsletter.ingest.events import (
    DATE_RE,
    MAX_DATES,
    YearHints,
    date_matches,
    find_events,
    section_pieces,
)
from newsletter.ingest.featured import (
    FEATURED_LABEL,
    featured_block,
    featured_label,
    merge_featured,
)
from newsletter.ingest.periods import Period, Yearless, month_number
from newsletter.ingest.regions import Regions, load_regions
from newsletter.ingest.tags import is_related, parse_tags, tag_blocks
from newsletter.ingest.titles import Title, looks_like_title, read_title

# The update's own date: "Published: 3 March 2019", "Posted by the secretariat on 4 April 2022".
_DATE_LINE = re.compile(
    r"(?i)^(?:published|posted|date|updated|last\s+updated)(?:\s+by\s+[^:]{1,60}?)?(?:\s+on)?"
    r"\s*:?\s+(?P<date>.{6,40})$"
)


def parse_plain_text(
    text: str, source_name: str, *, today: date | None = None
) -> tuple[Update, list[str]]:
    """Parse a website-copy update (see the module docstring); never fails on its title.

    ``today`` is the ingest date, the last resort for dates without a year.
    """
    warnings: list[str] = []
    regions = load_regions()
    lines = [line.strip() for line in text.splitlines()]
    end = next((i for i, line in enumerate(lines) if is_related(line)), len(lines))
    skip, tag_lines = tag_blocks(lines)
    skip.update(i for i in range(end) if is_chrome(lines[i]))
    title_at, title = _find_title(lines, end, skip, regions)
    title, continued = _continued_title(lines, title_at, end, skip, title, regions)
    if continued:
        skip.add(title_at + 1)
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
            and FEATURED_LABEL.match(lines[index])
            and featured_label(lines[index]) is not None
        ):
            used, event, named = featured_block(lines, index, end, title_at, hints, warnings)
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
    content = ["" if i in skip else lines[i] for i in range(end)]
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
    events = merge_featured(featured, prose, title.region, warnings) + prose
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


def _find_title(lines: list[str], end: int, skip: set[int], regions: Regions) -> tuple[int, Title]:
    for index in range(end):
        if index in skip or featured_label(lines[index]) is not None:
            continue
        found = looks_like_title(lines[index], regions)
        if found is not None:
            return index, found
    # No title-shaped line: the first real line is the title, whatever it says.
    for index in range(end):
        line = lines[index]
        if not line or index in skip or featured_label(line) is not None or parse_featured(line):
            continue
        return index, read_title(line, regions)
    first = next((i for i, line in enumerate(lines) if line), 0)
    return first, read_title(lines[first] or "Untitled update", regions)


def _continued_title(
    lines: list[str], at: int, end: int, skip: set[int], title: Title, regions: Regions
) -> tuple[Title, bool]:
    """The title and whether it goes on to the next line, which names only its period.

    A title naming no period, directly followed (no blank line) by a line that
    is a period and nothing else ("SE Regional Update" then "Apr-Jun 2023"),
    is one title over two lines.
    """
    nxt = at + 1
    if title.period is not None or title.yearless is not None or nxt >= end or nxt in skip:
        return title, False
    second = read_title(lines[nxt], regions)
    if second.period is None or second.region or second.has_update_word or second.unplaced:
        return title, False
    return read_title(f"{lines[at]} {lines[nxt]}", regions), True


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
    if m.group("iyear") and 1 <= int(m.group("imonth")) <= 12:
        return f"{m.group('iyear')}-{m.group('imonth')}"
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
    return f"{day.year:04d}-{day.month:02d}", f"the ingest date, {long_date(day)}"
