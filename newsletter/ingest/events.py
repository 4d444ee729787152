"""Events mentioned in prose: "on 22 May 2019 at the Hilton Cambridge City Centre, 09:30–16:00".

Contract of :func:`find_events`: every date with a day and a month ("23
January 2017", "Tuesday 5th March", "12-13 March", "March 5th, 2019",
"05/03/2019") in a paragraph or bullet item becomes one :class:`Event`,
except dates that are not occasions: deadlines and markers ("by 5 March",
"since 1 April 2017", "from 1 April the service…") and things that merely
happened or came into effect ("came into force on 4 September 2017", "went
live on 1 March", "published on …").  Month-only mentions ("in May") are not
events: there is nothing to put in a calendar.

Each date is read with the sentence around it — the part of the sentence
between it and its neighbouring dates, split at "and"/","/";" so that "at
10am on 5 March and at 2pm on 12 March" gives each date its own time:

* year: as written, else from the update's period range (see
  :func:`newsletter.ingest.dates.resolve_year`); with no period, from the
  fallback month the caller gives (the update's own date or the ingest
  date) with a warning naming the date, else the date is skipped with one;
* time: a start and optional end anywhere in that part of the sentence
  ("09:30–16:00", "9.30am–3.30pm", "from 1.30pm", "10am to noon"); without
  one the event is all-day (start at local midnight);
* day ranges ("12-13 March", "between 10 and 12 June", "from 8 to 12 July",
  "30 April – 2 May") are one all-day event whose end is the last day;
  "5 and 12 March" are two;
* location: the venue phrase after "at"/"in", after the date first, else
  before it, kept whole ("Kent County Council offices in Maidstone", "the
  Civic Centre, Sunderland"); an occasion ("the DCS meeting"), a month or a
  region is not a venue;
* title: a short noun phrase naming the occasion ("Lead Member network
  meeting"), else the subject of "will take place"/"will be held", else the
  object of "hold/host/run a …", else the section heading;
* source: the sentence the date came from, exactly as written (a sentence
  over :data:`MAX_SOURCE` characters is cut around the date).

Every step looks at most :data:`WINDOW` characters either side of a date, so
the work is linear in the text's length whatever it contains.
"""

from __future__ import annotations

import heapq
import itertools
import re
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass
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
from newsletter.ingest.periods import MONTH_PATTERN, MONTHS
from newsletter.ingest.regions import Regions, load_regions

#: Characters read either side of a date; a real sentence is shorter.
WINDOW = 240
#: Characters read either side of a date for its title: a title names the
#: occasion close to its date.
TITLE_WINDOW = 160
#: Longest source kept whole; longer sentences are cut around the date.
MAX_SOURCE = 600
#: Most warnings of one kind listed; the rest are counted in one line.
MAX_WARNINGS = 20
#: Most dates read as events in one update.  Real updates mention a few
#: dozen; a file with thousands is a calendar dump or an attack, and reading
#: each costs ~30 µs, so past this many the rest are left with a warning.
MAX_DATES = 500

_ORD = r"(?:st|nd|rd|th)?"
_YEAR = r"(?:19|20)\d\d"
DATE_RE = re.compile(
    rf"(?<![\w/])(?:(?P<wd>{WEEKDAY_PATTERN}),?\s+(?:the\s+)?)?(?:"
    # 23 January 2017 · 5th March · 5-6 March · 30 April - 2 May 2019
    rf"(?P<day>\d{{1,2}}){_ORD}(?:\s*(?P<join>-|–|—|to|and|&)\s*(?P<day2>\d{{1,2}}){_ORD})?"
    rf"\s+(?:of\s+)?(?P<month>{MONTH_PATTERN})"
    rf"(?:\s*(?:-|–|—|to)\s*(?P<day3>\d{{1,2}}){_ORD}\s+(?P<month2>{MONTH_PATTERN}))?"
    rf"(?:,?\s+(?P<year>{_YEAR}))?"
    # March 5th · March 5, 2019 (US order needs an ordinal or a year: "May 23 people")
    rf"|(?P<umonth>{MONTH_PATTERN})\s+(?P<uday>\d{{1,2}})(?P<uord>st|nd|rd|th)?"
    rf"(?:,?\s+(?P<uyear>{_YEAR}))?"
    # 05/03/2019 — UK order
    rf"|(?P<nday>\d{{1,2}})/(?P<nmonth>\d{{1,2}})/(?P<nyear>\d{{4}}|\d{{2}}))(?![\w/])"
)
# The word just before a date that makes it a deadline or a marker.
_MARKERS = frozenset(
    (
        *("since", "by", "until", "till", "before", "after", "from", "as", "effective"),
        *("deadline", "published", "dated", "ended", "ending", "closes", "closing", "closed"),
    )
)
# Words that make a date something that happened or took effect, not an occasion.
_NOT_OCCASION_BEFORE = re.compile(
    r"(?i)(?:\b(?:came|come|comes|coming)\s+into\s+(?:force|effect|operation)"
    r"|\b(?:went|go|goes|going)\s+live|\b(?:takes?|took|taking)\s+effect"
    r"|\b(?:launched|published|announced|issued|introduced|implemented|enacted|signed|commenced"
    r"|expired|released|submitted|received|laid|updated|revised|amended|approved|agreed"
    r"|inspected|rated|judged|appointed|retired|started|began|joined|left|born)"
    r"(?:\s+by\s+(?:[\w’'&-]+\s+){0,3}?[\w’'&-]+)?"
    r"|\bdeadline\b[^.;]{0,40}?\b(?:is|was|of|for|on)"
    r"|\b(?:closes?|closing|due|ends?|expires?)(?:\s+(?:at\s+)?(?:noon|midnight|\d{1,2}(?:[:.]\d\d)?\s*[ap]m))?)"
    r"(?:\s+(?:on|from|in|of|as\s+of|with\s+effect\s+from))?(?:\s+the)?\s*$"
)
_NOT_OCCASION_AFTER = re.compile(
    r"(?i)^[^.;]{0,60}?\b(?:came|comes|come)\s+into\s+(?:force|effect)|^[^.;]{0,60}?\b(?:went|goes)"
    r"\s+live|^[^.;]{0,60}?\b(?:took|takes)\s+effect|^[^.;]{0,40}?\bwas\s+(?:published|launched"
    r"|announced|issued|introduced|implemented)\b"
)
# Words at a date's near side that join it to the next one's clause.
_JOINER = re.compile(r"(?i)(?:;|,|\band\b|\bor\b|\bthen\b|\bwhile\b|\bwhereas\b)")

OCCASION_NOUNS = frozenset(
    (
        *("meeting", "meetings", "conference", "conferences", "event", "events", "session"),
        *("sessions", "workshop", "workshops", "seminar", "seminars", "forum", "forums"),
        *("summit", "briefing", "briefings", "webinar", "webinars", "masterclass", "training"),
        *("day", "days", "launch", "celebration", "awards", "roadshow", "roadshows", "course"),
        *("showcase", "symposium", "festival", "fair", "exhibition", "visit", "visits"),
        *("network", "group", "board", "panel", "committee", "assembly", "clinic", "drop-in"),
        *("hackathon", "lecture", "talk", "breakfast", "lunch", "dinner", "reception"),
        *("ceremony", "retreat", "away-day", "residential", "academy", "programme", "networking"),
        *("consultation", "challenge", "review", "school", "camp", "meet", "gathering", "call"),
        *("week", "festival", "open-day", "induction", "surgery", "huddle"),
    )
)
# Words that end a title phrase when extending it leftwards from its noun.
_TITLE_STOP = frozenset(
    (
        *("a", "an", "the", "our", "their", "its", "his", "her", "your", "my", "this", "that"),
        *("these", "those", "next", "first", "second", "third", "last", "final", "upcoming"),
        *("forthcoming", "latest", "recent", "previous", "on", "in", "at", "to", "for", "from"),
        *("with", "by", "of", "and", "or", "but", "as", "is", "are", "was", "were", "be", "been"),
        *("will", "would", "can", "could", "should", "may", "might", "must", "has", "have", "had"),
        *("held", "hold", "holds", "holding", "host", "hosts", "hosted", "hosting", "run", "runs"),
        *("ran", "running", "attend", "attended", "attending", "join", "joined", "joining"),
        *("organise", "organised", "organising", "organize", "organized", "organizing"),
        *("deliver", "delivered", "delivering", "plan", "planned", "planning", "take", "takes"),
        *("took", "there", "which", "who", "we", "they", "it", "he", "she", "you", "all", "each"),
        *("every", "some", "any", "many", "also", "then", "where", "when", "during", "after"),
        *("before", "about", "into", "over", "under", "between", "through", "across", "via"),
        *("including", "include", "includes", "two", "three", "four", "five", "several"),
        *("further", "another", "other", "more", "most", "not", "no", "whose", "what", "how"),
        *("please", "see", "invite", "invited", "inviting", "welcome", "book", "register"),
        *("launched", "following", "successful", "colleagues", "members", "directors", "dcss"),
        *("attendees", "delegates", "us", "them", "being", "set", "due", "place", "part", "date"),
        *("save", "until", "since", "if", "so", "such", "one", "both", "whole", "full", "day"),
    )
)
_VENUE_NOUN = (
    r"(?:(?:council|conference|meeting|committee|function|training|main)\s+)?"
    r"(?:offices?|headquarters|hall|centre|center|building|campus|library|hotel|rooms?|suite"
    r"|house|park|stadium|theatre|museum|chambers?|auditorium)"
)
_CAP = r"(?:[A-Z][\w’'&.\-]*|\d+[A-Za-z]?(?=\s+[A-Z]))"
_NAME = rf"{_CAP}(?:\s+(?:(?:of|and|&|upon|on|under|le|de|la|the)\s+)?{_CAP})*"
_VENUE_RE = re.compile(
    rf"(?<![\w])(?:[Ii]n|[Aa]t|[Vv]enue:)\s+(?P<place>(?:the\s+)?{_NAME}(?:\s+{_VENUE_NOUN})?"
    rf"(?:(?:,\s+|\s+in\s+){_NAME}(?=\s*(?:$|[,.;:)(–—\-]|on\b|from\b|at\b|between\b|\d)))?)"
)
_NOT_PLACES = frozenset(MONTHS) | frozenset(
    (
        *("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "noon"),
        *("midday", "england", "uk", "britain", "wales", "scotland", "partnership", "addition"),
        *("total", "particular", "response", "order", "line", "light", "future", "summary"),
    )
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
# Starts with its punctuation (not a look-behind) so the engine only tries
# where a sentence can end: ~10 times faster on long text.
_SENTENCE_END = re.compile(r"[.!?…][\"”’)]*\s+(?=[\"“‘(]?[A-Z0-9])")
# Where a date can be: a month name beside a number ("5 March", "5th of
# March", "March 5"), or a "/" between digits; every DATE_RE form has one.
# Both patterns start with literals, so the engine skips ahead to the next
# candidate instead of trying every position (~20 ms per MB of text without
# dates; the checks around a month name are fixed-width look-arounds, which
# is why the text must have single spaces).
_MONTH_START = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_THREE = r"[A-Z][a-z]{2}"
_ORDS = r"(?:st|nd|rd|th)"
_MONTH_ANCHOR = re.compile(
    rf"{_MONTH_START}(?:(?<=\d {_THREE})|(?<=\d{_ORDS} {_THREE})|(?<=\d of {_THREE})"
    rf"|(?<=\d{_ORDS} of {_THREE})|(?=[a-z]{{0,6}}\.? \d))"
)
_SLASH_ANCHOR = re.compile(r"/(?=\d)(?<=\d/)")
# How far before and after a month name a date may reach: "Wednesday the
# 12th – Thursday 13th of March" before, "March 5th, 2019" after.
_DATE_REACH_BEFORE, _DATE_REACH_AFTER = 48, 40
# Longest date DATE_RE matches (with single spaces), and the chunk scanned at
# once when dates run on without a break.
_MAX_DATE_CHARS, _CHUNK = 96, 4096
_WORD = re.compile(r"[\w’'&\-]+")
_TOKEN = re.compile(r"[\w’'&\-]+|[^\w\s’'&\-]")


@dataclass(frozen=True)
class YearHints:
    """What a yearless date's year is read from: the period, else a fallback month.

    ``fallback`` ("YYYY-MM") is used only without a period; ``fallback_from``
    says where it came from for the warning ("the ingest date, 2 December 2026").
    ``lines`` are the source's lines, when known, so that a warning about a
    date can name the line it is on.
    """

    period: str | None
    period_end: str | None = None
    fallback: str | None = None
    fallback_from: str = ""
    lines: tuple[str, ...] = ()

    def line_of(self, text: str) -> str:
        """ "line N: " for the first source line containing ``text``, else ""."""
        for number, line in enumerate(self.lines, start=1):
            if text in " ".join(line.split()):
                return f"line {number}: "
        return ""


def sentences(text: str) -> list[str]:
    """Split running text into sentences (an approximation good enough for sources)."""
    out: list[str] = []
    start = 0
    for m in _SENTENCE_END.finditer(text):
        out.append(text[start : m.start() + 1] + m.group(0)[1:].rstrip())
        start = m.end()
    out.append(text[start:])
    return [s.strip() for s in out if s.strip()]


def date_matches(text: str) -> Iterator[re.Match[str]]:
    """:data:`DATE_RE` matches in ``text``, in order, scanning only near likely dates.

    ``text`` has single spaces between words (as :func:`find_events` gives
    it).  Equivalent to ``DATE_RE.finditer(text)``, but the full pattern only runs
    in the stretches around an anchor — a month name beside a number, or a
    "/" between digits — merged when they overlap, so text without dates
    costs one quick scan whatever it holds (month names, numbers, capitals).
    """
    # A stretch is scanned once the next anchor lies beyond it, or in chunks
    # when dates run on without a break (the adversarial case), so that a
    # caller that stops early does not pay for the rest of the text.
    lo = hi = -1
    anchors = heapq.merge(
        (m.start() for m in _MONTH_ANCHOR.finditer(text)),
        (m.start() for m in _SLASH_ANCHOR.finditer(text)),
    )
    for at in anchors:
        start, end = at - _DATE_REACH_BEFORE, at + _DATE_REACH_AFTER
        if start <= hi:
            hi = end
            if hi - lo > _CHUNK:
                lo = yield from _scan_chunk(text, lo, hi)
            continue
        if hi >= 0:
            yield from DATE_RE.finditer(text, lo, min(hi, len(text)))
        lo, hi = max(0, start), end
    if hi >= 0:
        yield from DATE_RE.finditer(text, lo, min(hi, len(text)))


def _scan_chunk(text: str, lo: int, hi: int) -> Generator[re.Match[str], None, int]:
    """Matches of ``text[lo:hi]`` that end well inside it; returns where to go on from.

    A match near ``hi`` may be cut short by it ("5 March" of "5 March 2019"),
    so only matches ending :data:`_MAX_DATE_CHARS` before ``hi`` are taken;
    the rest are scanned again with the next chunk.
    """
    safe = hi - _MAX_DATE_CHARS
    resume = hi - 2 * _MAX_DATE_CHARS
    for m in DATE_RE.finditer(text, lo, min(hi, len(text))):
        if m.end() > safe:
            return m.start()
        yield m
        resume = m.end()
    return max(lo, resume)


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
    pieces: Iterable[tuple[str | None, str]],
    period: str | YearHints | None,
    warnings: list[str],
) -> list[Event]:
    """Events in ``pieces`` — (section heading, paragraph or bullet text) pairs.

    ``period`` is the update's first month or, fuller, its :class:`YearHints`.
    Appends to ``warnings`` for each date whose year was guessed or cannot be
    known.  Events come in order of appearance, duplicates (same title, start
    and end) once.
    """
    hints = period if isinstance(period, YearHints) else YearHints(period)
    reader = _Reader(hints, load_regions())
    found: list[Event] = []
    seen: set[tuple[str, datetime, datetime | None]] = set()
    for heading, text in pieces:
        if reader.dates_read >= MAX_DATES:
            break
        for sentence in sentences(" ".join(text.split())):
            for event in reader.events_in_sentence(sentence, heading):
                key = (event.title, event.start, event.end)
                if key not in seen:
                    seen.add(key)
                    found.append(event)
    if reader.dates_read >= MAX_DATES:
        reader.warnings.insert(
            0,
            f"more than {MAX_DATES} dates: only the first {MAX_DATES} were read as events;"
            " split the update or add the rest by hand",
        )
    warnings.extend(reader.warnings[:MAX_WARNINGS])
    if len(reader.warnings) > MAX_WARNINGS:
        warnings.append(f"… and {len(reader.warnings) - MAX_WARNINGS} more dates like these")
    return found


class _Reader:
    """Reads the dates of one update, collecting its warnings."""

    def __init__(self, hints: YearHints, regions: Regions) -> None:
        self.hints = hints
        self.regions = regions
        self.warnings: list[str] = []
        self.dates_read = 0

    def events_in_sentence(self, sentence: str, heading: str | None) -> list[Event]:
        matches: list[re.Match[str]] = []
        for m in date_matches(sentence):
            if self.dates_read >= MAX_DATES:
                break
            if m.group("umonth") and not (m.group("uord") or m.group("uyear")):
                continue
            matches.append(m)
            self.dates_read += 1
        if not matches:
            return []
        # Split each gap between two dates at its last joiner: the part before
        # belongs to the earlier date, the part after to the later one; a gap
        # without a joiner is read by both.
        after_ends: list[int] = []
        before_starts: list[int] = [0]
        for left, right in itertools.pairwise(matches):
            gap = sentence[left.end() : right.start()]
            joiners = list(_JOINER.finditer(gap[-WINDOW:]))
            if joiners:
                cut = right.start() - len(gap[-WINDOW:]) + joiners[-1].start()
                after_ends.append(cut)
                before_starts.append(cut)
            else:
                after_ends.append(right.start())
                before_starts.append(left.end())
        after_ends.append(len(sentence))
        events: list[Event] = []
        for index, m in enumerate(matches):
            lo = max(before_starts[index], m.start() - WINDOW)
            hi = min(after_ends[index], m.end() + WINDOW)
            before, after = sentence[lo : m.start()], sentence[m.end() : hi]
            is_range = bool(m.group("day2") or m.group("day3"))
            if not self._is_occasion(sentence, m, before, after, is_range):
                continue
            spans = self._days(m, before, sentence)
            if spans is None:
                continue
            # The title is read in the date's clause ("…at 2pm; a workshop runs…").
            reach = max(0, m.start() - TITLE_WINDOW)
            clause_lo = max(reach, sentence.rfind(";", reach, m.start()) + 1)
            clause_end = sentence.find(";", m.end(), m.end() + TITLE_WINDOW)
            clause_hi = (
                clause_end if clause_end >= 0 else min(len(sentence), m.end() + TITLE_WINDOW)
            )
            title = _title(sentence[clause_lo:clause_hi], m.start() - clause_lo, heading)
            location = self._location(after, before)
            source = _source(sentence, m.start(), m.end())
            for first, last in spans:
                start, end, all_day = _when(first, last, after, before)
                events.append(
                    Event(
                        title=title,
                        start=start,
                        end=end,
                        all_day=all_day,
                        location=location,
                        source=source,
                    )
                )
        return events

    def _is_occasion(
        self, sentence: str, m: re.Match[str], before: str, after: str, is_range: bool
    ) -> bool:
        near = before[-60:]
        words = _WORD.findall(near.lower())[-3:]
        while words and (words[-1] in ("on", "the", "of") or weekday_number(words[-1]) is not None):
            words = words[:-1]
        # "from 8 to 12 July" is an occasion; "from 1 April the service…" is not.
        if words and words[-1] in _MARKERS and not (is_range and words[-1] in ("from", "between")):
            return False
        if _NOT_OCCASION_BEFORE.search(near):
            return False
        return _NOT_OCCASION_AFTER.search(after[:80]) is None

    def _days(
        self, m: re.Match[str], before: str, sentence: str
    ) -> list[tuple[date, date | None]] | None:
        """The (first day, last day or None) spans a date names; None if not real or no year."""
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
        year = int(year_text) if year_text else self._year(month, day, weekday, m, sentence)
        if year is None or not valid_date(year, month, day):
            return None
        first = date(year, month, day)
        if day2 is None:
            return [(first, None)]
        year2 = year + 1 if month2 < month else year
        if not valid_date(year2, month2, day2) or date(year2, month2, day2) <= first:
            return [(first, None)]
        last = date(year2, month2, day2)
        between = _WORD.findall(before[-20:].lower())[-1:] == ["between"]
        if m.group("join") in ("and", "&") and not between and (last - first).days > 1:
            return [(first, None), (last, None)]
        return [(first, last)]

    def _year(
        self, month: int, day: int, weekday: int | None, m: re.Match[str], sentence: str
    ) -> int | None:
        hints = self.hints
        if hints.period is not None:
            return resolve_year(month, day, hints.period, weekday, hints.period_end)
        context = _source(sentence, m.start(), m.end())[:80]
        # Finding the line reads the source: only for the warnings listed.
        where = hints.line_of(m.group(0)) if len(self.warnings) < MAX_WARNINGS else ""
        if hints.fallback is None:
            self.warnings.append(
                f"{where}no year for {m.group(0)!r} and no period in the title: event skipped"
                f" (in {context!r})"
            )
            return None
        year = resolve_year(month, day, hints.fallback, weekday)
        self.warnings.append(
            f"{where}no year for {m.group(0)!r} and no period in the title: read as {year}"
            f" from {hints.fallback_from} (in {context!r})"
        )
        return year

    def _location(self, after: str, before: str) -> str | None:
        for window, pick_last in ((after, False), (before, True)):
            candidates = [
                place
                for v in _VENUE_RE.finditer(window)
                if (place := self._place(v.group("place"), window[v.end() :])) is not None
            ]
            if candidates:
                return candidates[-1] if pick_last else candidates[0]
        return None

    def _place(self, text: str, following: str) -> str | None:
        words = text.split()
        if words and words[0] == "the":
            words = words[1:]
        while words and words[-1].lower().strip(",") in ("and", "of", "the", "upon", "&", "on"):
            words = words[:-1]
        place = " ".join(words).rstrip(".,")
        if not place:
            return None
        first = place.split()[0].rstrip(".").lower()
        last = place.split()[-1].lower()
        next_word = _WORD.findall(following[:30].lower())[:1]
        if first in _NOT_PLACES or first.isdigit() or last in OCCASION_NOUNS:
            return None
        # "at the DCS meeting": the capitalised words name an occasion, not a place.
        if next_word and (next_word[0] in OCCASION_NOUNS or following.startswith(("’s", "'s"))):
            return None
        if self.regions.is_region(place):
            return None
        return place


def _when(
    first: date, last: date | None, after: str, before: str
) -> tuple[datetime, datetime | None, bool]:
    if last is not None:
        return local(first), local(last), True
    found = [t for t in TIME_RE.finditer(after)][:1] or list(TIME_RE.finditer(before))[-1:]
    for t in found:
        times = time_range(t)
        if times is not None:
            start_time, end_time = times
            end = local(first, end_time) if end_time is not None else None
            return local(first, start_time), end, False
    return local(first), None, True


def _source(sentence: str, start: int, end: int) -> str:
    if len(sentence) <= MAX_SOURCE:
        return sentence
    lo, hi = max(0, start - MAX_SOURCE // 2), min(len(sentence), end + MAX_SOURCE // 2)
    return ("…" if lo else "") + sentence[lo:hi].strip() + ("…" if hi < len(sentence) else "")


def _title(clause: str, date_at: int, heading: str | None) -> str:
    """A short noun phrase naming the occasion at ``date_at`` in ``clause``."""
    phrase = _occasion_phrase(clause, date_at)
    if phrase is not None and (len(phrase.split()) > 1 or not heading):
        return phrase
    subject = _SUBJECT_RE.search(clause)
    if subject is not None:
        text = clause[: subject.start()]
        dates = list(DATE_RE.finditer(text))
        if dates:
            text = text[dates[-1].end() :]
        text = re.sub(
            r"^[\s,]+|^(?:the|our|a|an|next|first|this)\s+", "", text.strip(" ,"), flags=re.I
        )
        if 3 <= len(text) <= 60 and text.split()[0].lower() not in _PRONOUNS:
            return text[0].upper() + text[1:]
    obj = _OBJECT_RE.search(clause)
    if obj is not None and len(obj.group("obj").split()) <= 8:
        text = obj.group("obj").strip()
        return text[0].upper() + text[1:]
    if heading:
        return heading
    if phrase is not None:
        return phrase
    words = [w for w in _WORD.findall(clause[:date_at])][-6:] or _WORD.findall(clause)[:6]
    text = " ".join(words) or "Event"
    return text[0].upper() + text[1:]


def _occasion_phrase(clause: str, date_at: int) -> str | None:
    """The occasion noun nearest the date with the words that name it ("DCS meeting")."""
    # Words and punctuation marks as plain strings (a punctuation mark stops a
    # phrase); findall is several times cheaper than match objects here.
    before = _TOKEN.findall(clause[:date_at])
    after = _TOKEN.findall(clause[date_at:])
    tokens = before + after
    nouns = [i for i, t in enumerate(tokens) if t.lower() in OCCASION_NOUNS]
    if not nouns:
        return None
    index = min(nouns, key=lambda i: abs(i - len(before) + 0.5))
    # Take the modifiers before the noun: names ("Signs of Safety") and
    # adjectives ("regional social work"), up to a stop word or punctuation.
    begin = index
    while begin > 0 and index - begin < 6:
        word = tokens[begin - 1]
        lower = word.lower()
        if lower in ("of", "and", "&", "for") and begin >= 2:
            if tokens[begin - 2][:1].isupper() and word != word.capitalize():
                begin -= 2
                continue
            break
        if not word[:1].isalnum() or lower in _TITLE_STOP or lower in MONTHS or word.isdigit():
            break
        begin -= 1
    words = tokens[begin : index + 1]
    if len(words) == 1:
        # A bare noun says little ("workshop"): take what it is about, as in
        # "workshop on contextual safeguarding", up to four words.
        words += _topic(tokens[index + 1 : index + 7])
    if len(words) == 1 and words[0].lower() in ("day", "days", "call", "review", "school"):
        return None
    phrase = " ".join(words)
    return phrase[0].upper() + phrase[1:]


def _topic(following: list[str]) -> list[str]:
    """ "on contextual safeguarding" from the tokens after a noun; [] when there is none."""
    if not following or following[0].lower() not in ("on", "about", "for"):
        return []
    topic: list[str] = []
    for word in following[1:]:
        lower = word.lower()
        if not word[:1].isalpha() or lower in _TITLE_STOP or lower in MONTHS:
            break
        if weekday_number(lower) is not None:
            break
        topic.append(word)
    return [following[0], *topic] if topic else []
