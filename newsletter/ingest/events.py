"""Events mentioned in prose: "on 22 May 2019 at the Hilton Cambridge City Centre, 09:30–16:00".

Contract of :func:`find_events`: every date with a day and a month ("23
January 2017", "Tuesday 5th March", "12-13 March", "March 5th, 2019",
"05/03/2019", "Thurs 24/03/22", "6.3.23", "2022-03-24") in a paragraph or bullet item
becomes one :class:`Event`, except dates that are not occasions: deadlines
and markers ("by 5 March", "since 1 April 2017", "from 1 April the
service…") and things that merely happened, came into effect or went out
("came into force on 4 September 2017", "went live on 1 March", "published
on …", "will be circulated w/c 7 March", "the homes open to referrals on 1
July"), occasions the clause calls off ("has been postponed", "is
cancelled"; a warning names each) unless the date is the new one
("postponed to 14 May"), and occasions reported in the past tense and dated
before the update's period ("our conference on 14 November 2019 was
attended by…" in a 2020 update, "the pledge was refreshed on 1 February" in
a March one).  Month-only mentions ("in May") are not
events: there is nothing to put in a calendar.

Each date is read with the sentence around it — the part of the sentence
between it and its neighbouring dates, split at "and"/","/";" so that "at
10am on 5 March and at 2pm on 12 March" gives each date its own time:

* year: as written, else from the update's period range (see
  :func:`newsletter.ingest.dates.resolve_year`); with no period, from the
  fallback month the caller gives (the update's own date or the ingest
  date) with a warning naming the date, else the date is skipped with one;
* time: a start and optional end anywhere in that part of the sentence
  ("09:30–16:00", "9.30am–3.30pm", "from 1.30pm", "10am to 12 noon",
  "1000–1230"); an
  evening start with a morning end ends the next day ("8pm–7am", "10pm to
  midnight"); without a time the event is all-day (start at local midnight);
* day ranges ("12-13 March", "between 10 and 12 June", "from 8 to 12 July",
  "30 April – 2 May", "Wednesday 9th and Thursday 10th June") are one
  all-day event whose end is the last day, or with a time range just after
  them ("6-7 June, 9am to 5pm") one event from the first day's start to the
  last day's end; "5 and 12 March" are two; two
  dates joined by "to" or a dash are one event, timed when each has its
  time ("from 9am on 4 November to 1pm on 5 November") and all-day when
  neither has and they are at most a week apart ("Monday 30 March –
  Wednesday 1 April"); a week named by its first day ("w/c 14 March", "the
  week commencing 14th March") is its working week, Monday to Friday;
* location: the venue phrase after "at"/"in", after the date first, else
  before it, kept whole ("Kent County Council offices in Maidstone", "the
  Civic Centre, Sunderland"), or a venue set off by a dash at the end
  ("… – Walsall Council House", as in a table's row); an occasion ("the DCS
  meeting"), a month or a region is not a venue; without a venue, the
  platform of an online
  occasion ("via Microsoft Teams", "on Zoom") or "Online";
* title: a short noun phrase naming the occasion ("Lead Member network
  meeting"; "Lead Member webinar" of "a Lead Member webinar on the
  Independent Review of…": a noun in another's topic is not the occasion),
  else the subject of "will take place"/"will be held", else the object of
  "hold/host/run a …", else the section heading (for a list item,
  the occasion its lead-in names: "Dates for the regional DCS meetings:"),
  unless that heading names no occasion and the text does ("their meeting");
* source: the sentence the date came from, exactly as written (a sentence
  over :data:`MAX_SOURCE` characters is cut around the date).

Every step looks at most :data:`WINDOW` characters either side of a date, so
the work is linear in the text's length whatever it contains.
"""

from __future__ import annotations

import heapq
import itertools
import re
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from newsletter.content import Bullets, Event, Section
from newsletter.ingest.dates import (
    CLOCK_PATTERN,
    TIME_RE,
    WEEKDAY_PATTERN,
    local,
    month_number,
    overnight,
    parse_clock,
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
    # 23 January 2017 · 5th March · 5-6 March · Wednesday 9th and Thursday 10th June
    # · 30 April - 2 May 2019
    rf"(?P<day>\d{{1,2}}){_ORD}(?:\s*(?P<join>-|–|—|to|and|&)\s*"
    rf"(?:{WEEKDAY_PATTERN},?\s+(?:the\s+)?)?(?P<day2>\d{{1,2}}){_ORD})?"
    rf"\s+(?:of\s+)?(?P<month>{MONTH_PATTERN})"
    rf"(?:\s*(?:-|–|—|to)\s*(?P<day3>\d{{1,2}}){_ORD}\s+(?P<month2>{MONTH_PATTERN}))?"
    rf"(?:,?\s+(?P<year>{_YEAR}))?"
    # March 5th · March 5, 2019 (US order needs an ordinal or a year: "May 23 people")
    rf"|(?P<umonth>{MONTH_PATTERN})\s+(?P<uday>\d{{1,2}})(?P<uord>st|nd|rd|th)?"
    rf"(?:,?\s+(?P<uyear>{_YEAR}))?"
    # 05/03/2019, 6.3.23 — UK order, the same separator twice
    rf"|(?P<nday>\d{{1,2}})(?P<nsep>[/.])(?P<nmonth>\d{{1,2}})(?P=nsep)(?P<nyear>\d{{4}}|\d{{2}})"
    # 2022-03-24 — ISO 8601
    rf"|(?P<iyear>{_YEAR})-(?P<imonth>\d\d)-(?P<iday>\d\d))(?![\w/])"
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
    r"|inspected|rated|judged|appointed|retired|started|began|joined|left|born|posted"
    r"|circulated|distributed|emailed|sent(?:\s+out|\s+round)?)"
    r"(?:\s+by\s+(?:[\w’'&-]+\s+){0,3}?[\w’'&-]+)?"
    r"|\bdeadline\b[^.;]{0,40}?\b(?:is|was|of|for|on)"
    r"|\b(?:closes?|closing|due|ends?|expires?)(?:\s+(?:at\s+)?(?:noon|midnight|\d{1,2}(?:[:.]\d\d)?\s*[ap]m))?)"
    r"(?:\s+(?:on|from|in|of|as\s+of|with\s+effect\s+from))?(?:\s+the)?\s*$"
)
# Something that opens to people on a date ("the homes open to referrals on
# 1 July") starts then; an occasion open to them ("sessions open to all
# staff on 5 May") is still an occasion, so the word before "open" decides.
_OPENS_TO = re.compile(
    r"(?i)\b(?P<subject>[\w’'-]+)\s+(?:re)?open(?:s|ed)?\s+(?:to|for)\s+(?:[\w’'-]+\s+){0,2}?"
    r"[\w’'-]+\s+(?:on\s+)?(?:the\s+)?$"
)
# "w/c 7 March", "the week commencing 14th March": a week, not a day.
_WEEK_OF = re.compile(
    r"(?i)(?:\b(?:in|during|for)\s+)?(?:\bthe\s+)?(?:\bw/[cb]|\bw\.[cb]\.|\bweek\s+(?:commencing"
    r"|beginning|starting)(?:\s+on)?)\s*$"
)
#: Days a week named by its first day ("w/c 14 March") lasts: a working week.
WEEK_OF_DAYS = 5
_NOT_OCCASION_AFTER = re.compile(
    r"(?i)^[^.;]{0,60}?\b(?:came|comes|come)\s+into\s+(?:force|effect)|^[^.;]{0,60}?\b(?:went|goes)"
    r"\s+live|^[^.;]{0,60}?\b(?:took|takes)\s+effect|^[^.;]{0,40}?\bwas\s+(?:published|launched"
    r"|announced|issued|introduced|implemented)\b"
)
# The occasion at a date called off: said of it after the date, in its own
# clause ("planned for 26 March has been postponed", "on 11 March is
# cancelled", "will not go ahead"), or just before it ("the cancelled
# meeting on", "postponed from").  Not across a comma, so that "…in Leeds,
# replacing the event that was cancelled" keeps its event.
_OFF = r"(?:cancell?ed|postponed|called\s+off|deferred)"
_CALLED_OFF_AFTER = re.compile(
    rf"(?i)[^;,]{{0,60}}?\b(?:(?:is|are|was|were|has\s+been|have\s+been|had\s+been|will\s+be"
    rf"|is\s+being)\s+(?:now\s+)?{_OFF}|(?:will|would)\s+(?:now\s+)?not\s+(?:go\s+ahead"
    r"|take\s+place|run|be\s+held)|no\s+longer\s+(?:go(?:es|ing)?\s+ahead|tak(?:es?|ing)\s+place"
    r"|run(?:s|ning)?))\b"
)
_CALLED_OFF_BEFORE = re.compile(rf"(?i)\b(?:{_OFF}|cancell?ation\s+of)\b[^;,]{{0,60}}$")
# Words before a date that make it the new one ("postponed to 14 May").
_RESCHEDULED = re.compile(
    r"(?i)\b(?:now|new\s+date|re-?scheduled|re-?arranged|moved\s+to|instead"
    r"|(?:postponed|put\s+back|deferred)\s+(?:to|until|till))\b"
)
# An occasion reported in the past tense: its date followed by the verb of
# its report ("on 14 November 2019 was attended", "…, found"), or preceded
# by "took place"/"held" or a past passive ("which took place on", "the
# briefing held on", "the pledge was refreshed on").
_PAST_AFTER = re.compile(
    r"(?i)[^.;]{0,60}?\b(?:was|were|took\s+place|had|attended|ran|met|covered|found|welcomed"
    r"|celebrated|considered|heard|showed|agreed|discussed|reported|concluded|focused)\b"
)
_PAST_BEFORE = re.compile(
    r"(?i)\b(?:took\s+place|happened|(?<!be\s)(?<!been\s)(?<!being\s)(?:held|ran)"
    # a past passive: "the pledge was refreshed on", "were reviewed on"
    r"|(?:was|were|has\s+been|have\s+been|had\s+been)\s+[a-z]+ed)"
    r"\s+(?:on\s+)?(?:the\s+)?$"
)
# The future, which outweighs a past verb nearby ("will", "is scheduled").
_FUTURE = re.compile(
    r"(?i)\b(?:will|shall|going\s+to|(?:is|are)\s+(?:due|planned|scheduled|expected|being))\b"
    r"|’ll\b|'ll\b"
)
#: How far after a span of days ("6-7 June") its times may stand ("…, 9am to 5pm").
_SPAN_TIMES_REACH = 24
#: Most days between two dates joined by "to" without times that still make
#: one occasion (a conference week, not a season).
MAX_JOINED_DAYS = 7
# The stretch between two dates of one span, and a time just before the first
# or just after the second.
_RANGE_GAP = re.compile(
    rf"(?i)\s*,?\s*(?:(?:at|from)\s+)?(?:(?P<t1>{CLOCK_PATTERN})\s*,?\s*)?"
    rf"(?:to|until|till|-|–|—)\s*(?:(?:at\s+)?(?P<t2>{CLOCK_PATTERN})\s*,?\s*(?:on\s+)?(?:the\s+)?)?"
)
_TIME_BEFORE = re.compile(rf"(?i)(?<![\w.:])(?P<t>{CLOCK_PATTERN})\s*,?\s*(?:on\s+)?(?:the\s+)?$")
_TIME_AFTER = re.compile(rf"(?i)\s*,?\s*(?:(?:at|until|till)\s+)?(?P<t>{CLOCK_PATTERN})")
# Where an occasion is held online: a named platform after "via"/"on"/"by"…
# or in brackets, else "online" said of the occasion.
_PLATFORMS = {
    "teams": "Microsoft Teams",
    "ms teams": "Microsoft Teams",
    "microsoft teams": "Microsoft Teams",
    "zoom": "Zoom",
    "google meet": "Google Meet",
    "skype": "Skype",
    "webex": "Webex",
}
_PLATFORM_RE = re.compile(
    r"(?:\b(?:[Vv]ia|[Oo]n|[Oo]ver|[Uu]sing|[Tt]hrough|[Bb]y|[Ii]n|a|an)\s+|\()"
    r"(?P<p>Microsoft\s+Teams|MS\s+Teams|Teams|Zoom|Google\s+Meet|Skype|Webex|WebEx)\b"
)
_ONLINE_RE = re.compile(
    r"(?i)\b(?:held|run|runs|running|meets?|meeting|be|place|delivered|hosted|join\s+us)\s+"
    r"online\b|\(online\)|\bonline\s+(?:via|on|using|through)\b|\bvirtually\b"
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
# The word before "open to …" that keeps the date an occasion (see _OPENS_TO).
_OPEN_OCCASIONS = OCCASION_NOUNS | frozenset(("is", "are", "be", "was", "were", "been", "being"))
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
# A capitalised word, or a street number ("59a", "59½") before one.
_CAP = r"(?:[A-Z][\w’'&.\-]*|\d+[A-Za-z½¼¾]?(?=\s+[A-Z]))"
_NAME = rf"{_CAP}(?:\s+(?:(?:of|and|&|upon|on|under|le|de|la|the)\s+)?{_CAP})*"
_VENUE_RE = re.compile(
    rf"(?<![\w])(?:[Ii]n|[Aa]t|[Vv]enue:)\s+(?P<place>(?:the\s+)?{_NAME}(?:\s+{_VENUE_NOUN})?"
    rf"(?:(?:,\s+|\s+in\s+){_NAME}(?=\s*(?:$|[,.;:)(–—\-]|on\b|from\b|at\b|between\b|\d)))?)"
)
# A venue set off by a dash at the end of the date's clause, as a table row
# or a one-line listing gives it: "Tue 5 Apr – WM DCS meeting – Walsall
# Council House".  Only a name with a venue word (hall, house, centre…).
_DASH_VENUE_RE = re.compile(rf"(?:^|\s)[–—-]\s+(?P<place>{_NAME}(?:,\s+{_NAME})?)\s*[.;]?$")
_VENUE_WORDS = frozenset(
    (
        *("office", "offices", "headquarters", "hall", "centre", "center", "building", "campus"),
        *("library", "hotel", "room", "rooms", "suite", "house", "park", "stadium", "theatre"),
        *("museum", "chamber", "chambers", "auditorium", "racecourse", "castle", "church"),
    )
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
# March", "March 5"), a "/" between digits (or the first "." of "6.3.23"),
# or the first "-" of "2022-03-24"; every DATE_RE form has one.
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
_SLASH_ANCHOR = re.compile(r"/(?=\d)(?<=\d/)|\.(?=\d{1,2}\.\d\d)(?<=\d\.)")
_ISO_ANCHOR = re.compile(r"-(?=\d\d-\d\d)(?<=\d\d\d\d-)")
# How far before and after a month name a date may reach: "Wednesday the
# 12th – Thursday 13th of March" before, "March 5th, 2019" after.
_DATE_REACH_BEFORE, _DATE_REACH_AFTER = 56, 40
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
    in the stretches around an anchor — a month name beside a number, a
    "/" between digits, an ISO date's "-" — merged when they overlap, so text without dates
    costs one quick scan whatever it holds (month names, numbers, capitals).
    """
    # A stretch is scanned once the next anchor lies beyond it, or in chunks
    # when dates run on without a break (the adversarial case), so that a
    # caller that stops early does not pay for the rest of the text.
    lo = hi = -1
    anchors = heapq.merge(
        (m.start() for m in _MONTH_ANCHOR.finditer(text)),
        (m.start() for m in _SLASH_ANCHOR.finditer(text)),
        (m.start() for m in _ISO_ANCHOR.finditer(text)),
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
    """(heading, text) for every paragraph and bullet item: the input of find_events.

    The items of a list led in by a sentence ending in ":" that names an
    occasion ("Dates for the regional DCS meetings in 2020:") get that
    occasion ("Regional DCS meeting") in place of the heading: an item that
    is only a date is one of those.
    """
    for section in sections:
        lead: str | None = None
        for block in section.blocks:
            if isinstance(block, Bullets):
                for item in block.items:
                    yield lead or section.heading, item
                lead = None
            else:
                yield section.heading, block.text
                lead = _lead_occasion(block.text)


def _lead_occasion(paragraph: str) -> str | None:
    """The occasion a paragraph ending in ":" leads a list of, in the singular; else None."""
    text = paragraph.rstrip()
    if not text.endswith(":"):
        return None
    last = sentences(" ".join(text[-TITLE_WINDOW:].split()))[-1]
    phrase = _occasion_phrase(last, len(last))
    if phrase is None or len(phrase.split()) < 2:
        return None
    *words, noun = phrase.split()
    if noun.lower().endswith("s") and noun.lower()[:-1] in OCCASION_NOUNS:
        noun = noun[:-1]
    return " ".join([*words, noun])


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
        # Each date's days, read once: a date tried as the end of a span and
        # then read alone must not warn twice about its year.
        read: dict[int, list[tuple[date, date | None]] | None] = {}

        def days_of(at: int) -> list[tuple[date, date | None]] | None:
            if at not in read:
                lo = max(before_starts[at], matches[at].start() - WINDOW)
                read[at] = self._days(matches[at], sentence[lo : matches[at].start()], sentence)
            return read[at]

        index = 0
        while index < len(matches):
            at, m = index, matches[index]
            lo = max(before_starts[at], m.start() - WINDOW)
            hi = min(after_ends[at], m.end() + WINDOW)
            before, after = sentence[lo : m.start()], sentence[m.end() : hi]
            is_range = bool(m.group("day2") or m.group("day3"))
            # "from 9am on 4 November to 1pm on 5 November": one event over both dates.
            span = self._two_as_one(matches, at, sentence, before, after_ends, days_of)
            last_of: re.Match[str] | None = None
            times: tuple[time, time] | None = None
            if span is not None:
                spans, times, after = span
                last_of = matches[at + 1]
                index += 2
            else:
                index += 1
                if not self._is_occasion(sentence, m, before, after, is_range):
                    continue
                found = days_of(at)
                if found is None:
                    continue
                spans = found
            if self._called_off(m, before, after, sentence) or self._reported(
                spans[0][0], before, after
            ):
                continue
            # The title is read in the date's clause ("…at 2pm; a workshop runs…").
            reach = max(0, m.start() - TITLE_WINDOW)
            clause_lo = max(reach, sentence.rfind(";", reach, m.start()) + 1)
            clause_end = sentence.find(";", m.end(), m.end() + TITLE_WINDOW)
            clause_hi = (
                clause_end if clause_end >= 0 else min(len(sentence), m.end() + TITLE_WINDOW)
            )
            title = _title(sentence[clause_lo:clause_hi], m.start() - clause_lo, heading)
            location = self._location(after, before) or _online(before, after)
            source = _source(sentence, m.start(), (last_of or m).end())
            for first, last in spans:
                end: datetime | None
                if times is not None and last is not None:
                    start, end, all_day = local(first, times[0]), local(last, times[1]), False
                else:
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

    def _two_as_one(
        self,
        matches: list[re.Match[str]],
        at: int,
        sentence: str,
        before: str,
        after_ends: list[int],
        days_of: Callable[[int], list[tuple[date, date | None]] | None],
    ) -> tuple[list[tuple[date, date | None]], tuple[time, time] | None, str] | None:
        """Dates ``at`` and the next as one span: (its days, its times, the text after it).

        None when they are not one span (see :func:`_timed_range`), when the
        first is no occasion, or when the days are not a real span.  Without
        times only a span of at most :data:`MAX_JOINED_DAYS` days is one
        occasion ("Monday 30 March – Wednesday 1 April"): "from 1 April to 30
        June" is a season of something, not an event.
        """
        times = _timed_range(matches, at, sentence, before)
        if times is None:
            return None
        second = matches[at + 1]
        after = sentence[second.end() : min(after_ends[at + 1], second.end() + WINDOW)]
        if not self._is_occasion(sentence, matches[at], before, after, True):
            return None
        first_days, last_days = days_of(at), days_of(at + 1)
        if not first_days or not last_days or len(first_days) != 1 or len(last_days) != 1:
            return None
        (first, no_end), (last, no_end2) = first_days[0], last_days[0]
        if no_end is not None or no_end2 is not None or last < first:
            return None
        start_time, end_time = times
        if start_time is None or end_time is None:
            if last == first or (last - first).days > MAX_JOINED_DAYS:
                return None
            return [(first, last)], None, after
        if last == first and end_time <= start_time:
            return None
        return [(first, last)], (start_time, end_time), after

    def _called_off(self, m: re.Match[str], before: str, after: str, sentence: str) -> bool:
        """True when the date's clause says the occasion is cancelled or postponed.

        A date that is the new one ("postponed to 14 May", "will now take
        place on 18 June") is not called off.
        """
        near_before = before[-80:]
        if _RESCHEDULED.search(near_before):
            return False
        if not (_CALLED_OFF_AFTER.match(after) or _CALLED_OFF_BEFORE.search(near_before)):
            return False
        context = _source(sentence, m.start(), m.end())[:80]
        where = self.hints.line_of(m.group(0)) if len(self.warnings) < MAX_WARNINGS else ""
        self.warnings.append(
            f"{where}{m.group(0)!r} is cancelled or postponed: not made an event (in {context!r})"
        )
        return True

    def _reported(self, first: date, before: str, after: str) -> bool:
        """True for an occasion reported as past: before the update's period, in the past tense.

        "Our autumn conference on 14 November 2019 was attended by…" or "the
        peer challenge, which took place on 2 December 2020, found…" in a
        2021 update is news, not a calendar entry.  An occasion in the period
        stays an event whatever its tense (the update's own calendar), and so
        does one in the future tense, or one named only as where something
        else happened ("findings were presented at the DCS meeting on 5
        July"): the update still points readers at that meeting.
        """
        since = self.hints.period or self.hints.fallback
        if since is None or first >= date(int(since[:4]), int(since[5:7]), 1):
            return False
        if _FUTURE.search(f"{before[-100:]} {after[:100]}"):
            return False
        return _PAST_AFTER.match(after) is not None or _PAST_BEFORE.search(before[-40:]) is not None

    def _is_occasion(
        self, sentence: str, m: re.Match[str], before: str, after: str, is_range: bool
    ) -> bool:
        # "circulated w/c 7 March" is read as "circulated 7 March".
        near = _WEEK_OF.sub("", before[-60:])
        words = _WORD.findall(near.lower())[-3:]
        while words and (words[-1] in ("on", "the", "of") or weekday_number(words[-1]) is not None):
            words = words[:-1]
        # "from 8 to 12 July" is an occasion; "from 1 April the service…" is not.
        if words and words[-1] in _MARKERS and not (is_range and words[-1] in ("from", "between")):
            return False
        if _NOT_OCCASION_BEFORE.search(near):
            return False
        opens = _OPENS_TO.search(near)
        if opens is not None and opens.group("subject").lower() not in _OPEN_OCCASIONS:
            return False
        return _NOT_OCCASION_AFTER.search(after[:80]) is None

    def _days(
        self, m: re.Match[str], before: str, sentence: str
    ) -> list[tuple[date, date | None]] | None:
        """The (first day, last day or None) spans a date names; None if not real or no year.

        A day named as a week's first ("w/c 14 March") spans that working week.
        """
        spans = self._named_days(m, before, sentence)
        week = spans is not None and len(spans) == 1 and spans[0][1] is None
        if spans is not None and week and _WEEK_OF.search(before[-40:]):
            first = spans[0][0]
            return [(first, first + timedelta(days=WEEK_OF_DAYS - 1))]
        return spans

    def _named_days(
        self, m: re.Match[str], before: str, sentence: str
    ) -> list[tuple[date, date | None]] | None:
        """The spans the date ``m`` itself names (see :meth:`_days`)."""
        weekday = weekday_number(m.group("wd"))
        if m.group("nday") or m.group("iday"):
            if m.group("iday"):
                full, month = int(m.group("iyear")), int(m.group("imonth"))
                day = int(m.group("iday"))
            else:
                short = int(m.group("nyear"))
                full = short + 2000 if short < 100 else short
                month, day = int(m.group("nmonth")), int(m.group("nday"))
            if not valid_date(full, month, day):
                return None
            return [(date(full, month, day), None)]
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
        dashed = _DASH_VENUE_RE.search(after)
        if dashed is not None and any(
            word.lower() in _VENUE_WORDS for word in _WORD.findall(dashed.group("place"))
        ):
            return self._place(dashed.group("place"), "")
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


#: A line of a featured block that is its date: the date, times, and at most
#: this many words of place ("(online)", "Taunton Racecourse").
MAX_STAMP_PLACE_WORDS = 6
_STAMP_FILLER = frozenset(("at", "on", "from", "to", "until", "till", "the", "between"))
_PLACE_WORD = re.compile(r"^(?:[A-Z][\w’'&.\-]*|of|and|&|upon|on|the|le|de|la)$")


def read_stamp(
    line: str, hints: YearHints, warnings: list[str]
) -> tuple[datetime, datetime | None, bool, str | None] | None:
    """A featured block's date line as an organiser writes it; None when it is not one.

    "Tuesday 3rd March 2020, 10:00–12:30", "3/3/2020 at 2pm", "10am to 1pm
    on 12 March", "Wednesday 21 October 2020, 13:00 – 15:30 (online)": one
    date (or day range) with its times and at most a short place, which is
    returned as (start, end, all_day, place).  A yearless date takes its
    year as prose dates do (``hints``), with the same warnings.  A sentence
    ("Join us on 5 March.") is not a stamp.
    """
    text = " ".join(line.split())
    if not text or len(text) > MAX_SOURCE // 4 or text.endswith((".", ";", "!", "?")):
        return None
    found = list(itertools.islice(date_matches(text), 2))
    if len(found) != 1 or (found[0].group("umonth") and not found[0].group("uord")):
        return None
    m = found[0]
    before, after = text[: m.start()], text[m.end() :]
    place = _stamp_place(TIME_RE.sub(" ", f"{before} {after}"))
    if place == "":
        return None
    reader = _Reader(hints, load_regions())
    spans = reader._days(m, before, text)
    warnings.extend(reader.warnings)
    if spans is None or len(spans) != 1:
        return None
    start, end, all_day = _when(spans[0][0], spans[0][1], after, before)
    return start, end, all_day, place


def _stamp_place(rest: str) -> str | None:
    """The place left on a stamp line once its date and times are gone.

    None when nothing is left, "" when what is left is not a place (so the
    line is no stamp): a place is a few capitalised words, or anything
    short in brackets ("(online)" is "Online").
    """
    words = re.sub(r"[,|·–—]|(?<!\w)-(?!\w)", " ", rest).split()
    while words and words[0].lower() in _STAMP_FILLER:
        words = words[1:]
    while words and words[-1].lower() in _STAMP_FILLER:
        words = words[:-1]
    if not words:
        return None
    place = " ".join(words)
    if place.startswith("(") and place.endswith(")"):
        place = place[1:-1].strip()
    elif not all(_PLACE_WORD.match(w) for w in words) or "(" in place:
        return ""
    if not place or len(place.split()) > MAX_STAMP_PLACE_WORDS:
        return ""
    return place[0].upper() + place[1:]


def _timed_range(
    matches: list[re.Match[str]], index: int, sentence: str, before: str
) -> tuple[time | None, time | None] | None:
    """Start and end times when date ``index`` and the next make one span, else None.

    The two dates must be joined by "to"/"until"/a dash with at most their
    times between or beside them: "from 9am on 4 November to 1pm on 5
    November", "4 November at 9am – 5 November at 1pm".  Both times or none
    (an all-day span); (None, None) is a span without times.
    """
    if index + 1 >= len(matches):
        return None
    first, second = matches[index], matches[index + 1]
    if first.group("day2") or first.group("day3") or second.group("day2") or second.group("day3"):
        return None
    gap = _RANGE_GAP.fullmatch(sentence, first.end(), second.start())
    if gap is None:
        return None
    start_text = gap.group("t1")
    if start_text is None:
        found = _TIME_BEFORE.search(before[-40:])
        start_text = found.group("t") if found else None
    end_text = gap.group("t2")
    if end_text is None:
        found = _TIME_AFTER.match(sentence, second.end(), second.end() + 40)
        end_text = found.group("t") if found else None
    if (start_text is None) != (end_text is None):
        return None
    if start_text is None or end_text is None:
        return None, None
    start, end = parse_clock(start_text), parse_clock(end_text)
    if start is None or end is None:
        return None
    return start, end


def _online(before: str, after: str) -> str | None:
    """ "Microsoft Teams", "Zoom"… or "Online" for an occasion held online, else None."""
    clause = f"{before[-80:]} {after[:120]}"
    platform = _PLATFORM_RE.search(clause)
    if platform is not None:
        name = " ".join(platform.group("p").split())
        return _PLATFORMS.get(name.lower(), name)
    return "Online" if _ONLINE_RE.search(clause) else None


def _when(
    first: date, last: date | None, after: str, before: str
) -> tuple[datetime, datetime | None, bool]:
    if last is not None:
        # "6-7 June, 9am to 5pm": from the first day's start to the last day's end.
        for t in list(TIME_RE.finditer(after[:_SPAN_TIMES_REACH]))[:1]:
            times = time_range(t)
            if times is None:
                continue
            start_time, end_time = times
            if end_time is not None and not overnight(start_time, end_time):
                return local(first, start_time), local(last, end_time), False
        return local(first), local(last), True
    found = [t for t in TIME_RE.finditer(after)][:1] or list(TIME_RE.finditer(before))[-1:]
    for t in found:
        times = time_range(t)
        if times is not None:
            start_time, end_time = times
            end: datetime | None = None
            if end_time is not None:
                last_day = first + timedelta(days=1) if overnight(start_time, end_time) else first
                end = local(last_day, end_time)
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
    # A bare occasion ("their meeting") says what the date is, which a heading
    # naming only a topic ("Quality Assurance") does not.
    if heading and (phrase is None or _names_occasion(heading)):
        return heading
    if phrase is not None:
        return phrase
    words = [w for w in _WORD.findall(clause[:date_at])][-6:] or _WORD.findall(clause)[:6]
    text = " ".join(words) or "Event"
    return text[0].upper() + text[1:]


def _names_occasion(text: str) -> bool:
    """True when ``text`` has an occasion noun ("Regional Conference", "Practice Week")."""
    return any(word.lower() in OCCASION_NOUNS for word in _WORD.findall(text))


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
    index = _outer_occasion(tokens, nouns, min(nouns, key=lambda i: abs(i - len(before) + 0.5)))
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
    if begin > 0 and tokens[begin][:1].isupper() and tokens[begin - 1].lower() in _TITLE_STOP:
        begin = _region_start(tokens, begin)
    words = tokens[begin : index + 1]
    if len(words) == 1:
        # A bare noun says little ("workshop"): take what it is about, as in
        # "workshop on contextual safeguarding", up to four words.
        words += _topic(tokens[index + 1 : index + 7])
    if len(words) == 1 and words[0].lower() in ("day", "days", "call", "review", "school"):
        return None
    phrase = " ".join(words)
    return phrase[0].upper() + phrase[1:]


def _region_start(tokens: list[str], begin: int) -> int:
    """Where a region's name ending at token ``begin`` starts, else ``begin``.

    A phrase stops at "the", which "Yorkshire and the Humber DCS meeting"
    holds: the region is read whole.
    """
    lo = max(0, begin - 4)
    text = " ".join(tokens[lo : begin + 1])
    found = load_regions().find(text)
    if found is None or found.end != len(text) or found.start >= len(text) - len(tokens[begin]):
        return begin
    return begin + 1 - len(text[found.start :].split())


#: Most tokens of a topic ("on the Independent Review of …") that may hold
#: the noun an occasion is about.
_MAX_TOPIC_TOKENS = 8
_TOPIC_ARTICLES = frozenset(("the", "a", "an", "of"))


def _outer_occasion(tokens: list[str], nouns: list[int], index: int) -> int:
    """The occasion noun whose topic holds the noun at ``index``, else ``index``.

    In "a webinar on the Independent Review of…" the review is what the
    webinar is about: the occasion is the webinar.  The words between "on"
    (or "about") and the inner noun must be a topic's — no stop word but an
    article, no punctuation, date or number.
    """
    for outer in reversed([n for n in nouns if n < index]):
        if index - outer > _MAX_TOPIC_TOKENS or tokens[outer + 1].lower() not in ("on", "about"):
            continue
        between = tokens[outer + 2 : index]
        if all(
            word[:1].isalpha()
            and (word.lower() in _TOPIC_ARTICLES or word.lower() not in _TITLE_STOP)
            and word.lower() not in MONTHS
            and weekday_number(word.lower()) is None
            for word in between
        ):
            return outer
    return index


def _topic(following: list[str]) -> list[str]:
    """ "on contextual safeguarding" from the tokens after a noun; [] when there is none."""
    if not following or following[0].lower() not in ("on", "about", "for"):
        return []
    rest = following[1:]
    # "a webinar on the new ASYE framework": an article belongs to the topic.
    article = rest[:1] if rest and rest[0].lower() in ("the", "a", "an") else []
    topic: list[str] = []
    for word in rest[len(article) :]:
        lower = word.lower()
        if not word[:1].isalpha() or lower in _TITLE_STOP or lower in MONTHS:
            break
        if weekday_number(lower) is not None:
            break
        topic.append(word)
    return [following[0], *article, *topic] if topic else []
