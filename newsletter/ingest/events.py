"""Events mentioned in prose: "on 23 January 2017 in Newcastle", "on 5 March at 10am".

Contract of :func:`find_events`: every date with a day and a month ("23
January 2017", "Tuesday 5th March", "5-6 March", "March 5th, 2019",
"05/03/2019") in a paragraph or bullet item becomes one :class:`Event`, except
dates that are deadlines or history markers rather than occasions ("by 5
March", "since 1 April 2017", "published on …").  Month-only mentions ("in
May") are not events: there is nothing to put in a calendar.

* year: as written, else from the update's period (see
  :func:`newsletter.ingest.dates.resolve_year`); with no period the date is
  skipped and a warning says so;
* time: a time or range near the date ("at 10am", "10:00-12:00", "2-4pm")
  makes a timed event; without one it is all-day (start at local midnight);
  a day range ("5-6 March") is an all-day event whose end is the last day;
* location: "in <Capitalised Place>" / "at <Capitalised Place>" after the
  date, else before it in the same sentence;
* title: the sentence's subject before "will take place"/"will be held"…, or
  the object of "hold/host/run a …", else the section heading, else the
  opening words of the sentence;
* source: the sentence the date came from, exactly as written.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import date, datetime

from newsletter.content import Bullets, Event, Section
from newsletter.ingest.dates import (
    TIME_RE,
    WEEKDAY_PATTERN,
    local,
    month_number,
    resolve_year,
    time_range,
    valid_date,
    weekday_number,
)
from newsletter.ingest.titles import MONTH_PATTERN, MONTHS

_ORD = r"(?:st|nd|rd|th)?"
_YEAR = r"(?:19|20)\d\d"
DATE_RE = re.compile(
    rf"(?<![\w/])(?:(?P<wd>{WEEKDAY_PATTERN}),?\s+(?:the\s+)?)?(?:"
    # 23 January 2017 · 5th March · 5-6 March · 30 April - 2 May 2019
    rf"(?P<day>\d{{1,2}}){_ORD}(?:\s*(?:-|–|—|to|and|&)\s*(?P<day2>\d{{1,2}}){_ORD})?"
    rf"\s+(?:of\s+)?(?P<month>{MONTH_PATTERN})"
    rf"(?:\s*(?:-|–|—|to)\s*(?P<day3>\d{{1,2}}){_ORD}\s+(?P<month2>{MONTH_PATTERN}))?"
    rf"(?:,?\s+(?P<year>{_YEAR}))?"
    # March 5th · March 5, 2019 (US order needs an ordinal or a year: "May 23 people")
    rf"|(?P<umonth>{MONTH_PATTERN})\s+(?P<uday>\d{{1,2}})(?P<uord>st|nd|rd|th)?"
    rf"(?:,?\s+(?P<uyear>{_YEAR}))?"
    # 05/03/2019 — UK order
    rf"|(?P<nday>\d{{1,2}})/(?P<nmonth>\d{{1,2}})/(?P<nyear>\d{{4}}|\d{{2}}))(?![\w/])"
)
# Words just before a date that make it a deadline or a marker, not an occasion.
_NOT_AN_OCCASION = frozenset(
    (
        *("since", "by", "until", "till", "before", "after", "from"),
        *("deadline", "published", "dated", "ended", "ending", "closes", "closing"),
    )
)
_PLACE_WORD = r"[A-Z][\w’'&.\-]*"
_PLACE = rf"{_PLACE_WORD}(?:(?:\s+(?:upon|on|under|le|and|of|the|&)){{0,2}}\s+{_PLACE_WORD})*"
_LOCATION_RE = re.compile(rf"\b(?:[Ii]n|[Aa]t)\s+(?P<loc>(?:the\s+)?{_PLACE}(?:,\s+{_PLACE})?)")
_NOT_PLACES = frozenset(MONTHS) | frozenset(
    ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "noon", "midday"]
)
_SUBJECT_RE = re.compile(
    r"\s+(?:will\s+(?:take\s+place|be\s+held|be\s+hosted|run|meet|be\s+on)|takes\s+place|runs"
    r"|took\s+place|is\s+taking\s+place|is\s+being\s+held|was\s+held|were\s+held|is\s+on"
    r"|is\s+scheduled|are\s+scheduled|is\s+planned|meets)\b"
)
_OBJECT_RE = re.compile(
    r"\b(?:hold|host|run|holding|hosting|running|held|hosted|ran|organise|organising"
    r"|organize|organizing|deliver|delivering|planning|attend|attended)\s+"
    r"(?:a|an|the|our|their|its|two|three)\s+(?P<obj>[^,.;:]{3,60}?)\s+"
    r"(?:on|in|at|for|with|which|that|from|between|to|focused|focusing|about)\b"
)
_PRONOUNS = frozenset(["it", "this", "that", "they", "we", "which", "there", "he", "she"])
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"”’)]*\s+(?=[\"“‘(]?[A-Z0-9])")


def sentences(text: str) -> list[str]:
    """Split running text into sentences (an approximation good enough for sources)."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def section_pieces(sections: Iterable[Section]) -> Iterator[tuple[str | None, str]]:
    """(heading, text) for every paragraph and bullet item: the input of find_events."""
    for section in sections:
        for block in section.blocks:
            if isinstance(block, Bullets):
                for item in block.items:
                    yield section.heading, item
            else:
                yield section.heading, block.text


def find_events(
    pieces: Iterable[tuple[str | None, str]], period: str | None, warnings: list[str]
) -> list[Event]:
    """Events in ``pieces`` — (section heading, paragraph or bullet text) pairs.

    Appends to ``warnings`` for each date whose year cannot be known.  Events
    come in order of appearance, duplicates (same title, start and end) once.
    """
    found: list[Event] = []
    seen: set[tuple[str, datetime, datetime | None]] = set()
    for heading, text in pieces:
        for sentence in sentences(text):
            for event in _events_in_sentence(sentence, heading, period, warnings):
                key = (event.title, event.start, event.end)
                if key not in seen:
                    seen.add(key)
                    found.append(event)
    return found


def _events_in_sentence(
    sentence: str, heading: str | None, period: str | None, warnings: list[str]
) -> list[Event]:
    matches = list(DATE_RE.finditer(sentence))
    events: list[Event] = []
    for index, m in enumerate(matches):
        if m.group("umonth") and not (m.group("uord") or m.group("uyear")):
            continue
        if _is_not_an_occasion(sentence[: m.start()]):
            continue
        spans = _days(m, period)
        if spans is None:
            if period is None and not _has_year(m):
                warnings.append(f"no year for {m.group(0)!r} and no period: event skipped")
            continue
        window_end = matches[index + 1].start() if index + 1 < len(matches) else len(sentence)
        window_start = matches[index - 1].end() if index else 0
        after = sentence[m.end() : window_end]
        before = sentence[window_start : m.start()]
        location = _location(after, before)
        # "…at 2pm; a workshop runs…": name each date after its own clause.
        clause_start = sentence.rfind(";", 0, m.start()) + 1
        clause_end = sentence.find(";", m.end())
        clause = sentence[clause_start : clause_end if clause_end >= 0 else None].strip()
        title = _title(clause, heading)
        for first, last in spans:
            start, end, all_day = _when(first, last, after, before[-25:])
            events.append(
                Event(
                    title=title,
                    start=start,
                    end=end,
                    all_day=all_day,
                    location=location,
                    source=sentence,
                )
            )
    return events


def _is_not_an_occasion(before: str) -> bool:
    words = re.findall(r"[\w’']+", before.lower())[-2:]
    if words and words[-1] in ("on", "the"):
        words = words[:-1]
    return bool(words) and words[-1] in _NOT_AN_OCCASION


def _has_year(m: re.Match[str]) -> bool:
    return bool(m.group("year") or m.group("uyear") or m.group("nyear"))


def _days(m: re.Match[str], period: str | None) -> list[tuple[date, date | None]] | None:
    """The (first day, last day or None) spans a date match names; None if not real.

    "5-6 March" is one span; "5 and 12 March" two single days.
    """
    weekday = weekday_number(m.group("wd"))
    if m.group("nday"):
        short = int(m.group("nyear"))
        full = short + 2000 if short < 100 else short
        month, day = int(m.group("nmonth")), int(m.group("nday"))
        return [(date(full, month, day), None)] if valid_date(full, month, day) else None
    day2: int | None = None
    if m.group("umonth"):
        month, day = month_number(m.group("umonth")), int(m.group("uday"))
        year_text, month2 = m.group("uyear"), month
    else:
        month, day = month_number(m.group("month")), int(m.group("day"))
        year_text = m.group("year")
        if m.group("month2"):
            # "30 April - 2 May": the range runs to the second month named.
            month2, day2 = month_number(m.group("month2")), int(m.group("day3"))
        else:
            month2 = month
            day2 = int(m.group("day2")) if m.group("day2") else None
    found = int(year_text) if year_text else resolve_year(month, day, period, weekday)
    if found is None or not valid_date(found, month, day):
        return None
    year = found
    first = date(year, month, day)
    if day2 is None:
        return [(first, None)]
    year2 = year + 1 if month2 < month else year
    if not valid_date(year2, month2, day2) or date(year2, month2, day2) <= first:
        return [(first, None)]
    last = date(year2, month2, day2)
    joined_by_and = re.search(r"\d\s*(?:and|&)\s*\d", m.group(0)) is not None
    if joined_by_and and (last - first).days > 1:
        return [(first, None), (last, None)]
    return [(first, last)]


def _when(
    first: date, last: date | None, after: str, before: str
) -> tuple[datetime, datetime | None, bool]:
    if last is not None:
        return local(first), local(last), True
    # Only a time right after the date ("…March at 10am") or right before it
    # ("at 10am on 5 March") belongs to it.
    for window in (after[:40], before):
        t = TIME_RE.search(window)
        if t is not None and (times := time_range(t)) is not None:
            start_time, end_time = times
            end = local(first, end_time) if end_time is not None else None
            return local(first, start_time), end, False
    return local(first), None, True


def _location(after: str, before: str) -> str | None:
    for window, pick_last in ((after, False), (before, True)):
        candidates = [_clean_place(m.group("loc")) for m in _LOCATION_RE.finditer(window)]
        candidates = [c for c in candidates if c]
        if candidates:
            return candidates[-1] if pick_last else candidates[0]
    return None


def _clean_place(text: str) -> str | None:
    words = text.split()
    if words and words[0] == "the":
        words = words[1:]
    while words and words[-1].lower().strip(",") in ("and", "of", "the", "upon", "&", "on"):
        words = words[:-1]
    place = " ".join(words).rstrip(".,")
    if not place or place.split()[0].rstrip(".").lower() in _NOT_PLACES:
        return None
    return place


def _title(sentence: str, heading: str | None) -> str:
    subject = _SUBJECT_RE.search(sentence)
    if subject is not None:
        text = sentence[: subject.start()]
        dates = list(DATE_RE.finditer(text))
        if dates:
            text = text[dates[-1].end() :]
        text = re.sub(r"^[\s,]+|^(?:the|our|a|an)\s+", "", text.strip(" ,"), flags=re.I)
        if 3 <= len(text) <= 80 and text.split()[0].lower() not in _PRONOUNS:
            return text[0].upper() + text[1:]
    obj = _OBJECT_RE.search(sentence)
    if obj is not None:
        text = obj.group("obj").strip()
        return text[0].upper() + text[1:]
    if heading:
        return heading
    words = sentence.split()
    return " ".join(words[:8]) + ("…" if len(words) > 8 else "")
