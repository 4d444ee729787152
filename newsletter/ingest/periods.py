"""The period an update covers, read from its title: a range of months with a label.

Forms understood (any case, anywhere in the text, abbreviated months too):

==========================================  =====================  ===============
Written                                     Months                 Kind
==========================================  =====================  ===============
"April 2017", "Sept, 2019"                  2017-04                month
"December 2018 – January 2019"              2018-12 … 2019-01      months
"June/July 2019", "December/January 2019"   2019-06 … 2019-07;     months
                                            2018-12 … 2019-01
"Spring 2019" (Mar–May), "Summer" (Jun–Aug) 2019-03 … 2019-05      season
"Autumn" (Sep–Nov), "Winter 2018/19"        2018-12 … 2019-02      season
"Autumn term 2019" (Sep–Dec), "Spring term  2020-01 … 2020-03      term
2020" (Jan–Mar), "Summer term" (Apr–Jul)
"Quarter 2 2019/20", "Q3 2018/19"           2019-07 … 2019-09      quarter
"Q3 2018" (calendar quarter)                2018-07 … 2018-09      quarter
"2019/20", "Financial Year 2019-20"         2019-04 … 2020-03      financial-year
"2019" (a year alone)                       2019-01 … 2019-12      year
==========================================  =====================  ===============

Decisions where usage varies: a span written with one year ("December/January
2019") ends in that year, as a bimonthly issue is dated by its last month; a
quarter with a financial year ("2019/20") counts from April, as councils do,
and with a calendar year from January; "Winter 2019" is December 2019 to
February 2020, the winter that starts in the year named; a school term is
the months it mostly covers (the spring term ends at Easter, early April),
and a term of a school year ("Spring term 2019/20") is in the year it falls.

A title may name its period without a year ("Autumn Update"):
:func:`find_yearless_period` reads that form and :meth:`Yearless.placed`
puts it in a year, from a date the caller knows.

Contract of :func:`find_period`: a :class:`Period` and the span of text it
was read from, or None.  The work is a handful of regex searches over the
text: linear in its length.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

PeriodKind = Literal["month", "months", "season", "term", "quarter", "financial-year", "year"]

MONTHS: dict[str, int] = {
    name: number
    for number, names in enumerate(
        (
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sept", "sep"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ),
        start=1,
    )
    for name in names
}
MONTH_NAMES = (
    *("January", "February", "March", "April", "May", "June", "July", "August"),
    *("September", "October", "November", "December"),
)

#: A month name, full or abbreviated (optionally with a dot), any case.
MONTH_PATTERN = (
    r"(?:January|February|March|April|May|June|July|August|September|October|November"
    r"|December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec)\.?"
)
_YEAR = r"(?:19|20)\d\d"
# "2018/19", "2018-19", "2018/2019", "2018 – 2019"
_SPLIT_YEAR = rf"(?P<fy>{_YEAR})\s*[/\-–—]\s*(?P<fy2>\d\d(?:\d\d)?)(?!\d)"
_SEP = r"\s*(?:/|-|–|—|&|\band\b|\bto\b)\s*"

_SPAN = re.compile(
    rf"(?i)(?<!\w)(?P<m1>{MONTH_PATTERN}),?(?:\s+(?P<y1>{_YEAR}))?{_SEP}"
    rf"(?P<m2>{MONTH_PATTERN}),?\s+(?P<y2>{_YEAR})(?!\d)"
)
_QUARTER = re.compile(
    rf"(?i)(?<!\w)(?:quarter|qtr|q)\s*(?P<q>[1-4])(?!\d)\s*(?:of\s+|,\s*|-\s*|–\s*)?"
    rf"(?:(?:financial\s+year|fy)\s*)?(?:{_SPLIT_YEAR}|(?P<cy>{_YEAR})(?!\d))"
)
_SEASON = re.compile(
    rf"(?i)(?<!\w)(?P<season>spring|summer|autumn|fall|winter),?\s+(?:{_SPLIT_YEAR}"
    rf"|(?P<y>{_YEAR})(?!\d))"
)
_TERM = re.compile(
    rf"(?i)(?<!\w)(?P<term>autumn|spring|summer)\s+term,?\s+(?:{_SPLIT_YEAR}"
    rf"|(?P<y>{_YEAR})(?!\d))"
)
_MONTH = re.compile(rf"(?i)(?<!\w)(?P<m>{MONTH_PATTERN}),?\s+(?P<y>{_YEAR})(?!\d)")
_FINANCIAL = re.compile(rf"(?i)(?<![\w/])(?:(?:financial\s+year|fy)\s*)?{_SPLIT_YEAR}")
_YEAR_ALONE = re.compile(rf"(?<![\w/\-–])(?P<y>{_YEAR})(?![\w/\-–])")

_SEASON_START = {"spring": 3, "summer": 6, "autumn": 9, "fall": 9, "winter": 12}
#: A school term's first month and how many months it covers.
_TERMS = {"autumn": (9, 4), "spring": (1, 3), "summer": (4, 4)}

# The same forms without a year: "Autumn", "Spring term", "June/July",
# "October" (a month alone only capitalised, so that "may" is not one).
_YEARLESS_TERM = re.compile(r"(?i)(?<!\w)(?P<term>autumn|spring|summer)\s+term(?!\w)")
_YEARLESS_SEASON = re.compile(r"(?i)(?<!\w)(?P<season>spring|summer|autumn|fall|winter)(?!\w)")
_YEARLESS_SPAN = re.compile(
    rf"(?i)(?<!\w)(?P<m1>{MONTH_PATTERN}){_SEP}(?P<m2>{MONTH_PATTERN})(?!\w)"
)
_YEARLESS_MONTH = re.compile(
    r"(?<!\w)(?P<m>January|February|March|April|May|June|July|August|September|October"
    r"|November|December|Sept|Sep|Oct|Nov|Dec|Jan|Feb|Mar|Apr|Jun|Jul|Aug)(?!\w)"
)


@dataclass(frozen=True)
class Period:
    """Months an update covers: ``start`` and ``end`` are "YYYY-MM", ``label`` as shown."""

    start: str
    end: str
    label: str
    kind: PeriodKind


def find_period(text: str) -> tuple[Period, tuple[int, int]] | None:
    """The period ``text`` names and the span it was read from; None when it names none."""
    for reader in (_span, _quarter, _term, _season, _month, _financial, _year):
        found = reader(text)
        if found is not None:
            return found
    return None


def month_number(name: str) -> int:
    """The month number of a (possibly abbreviated, dotted) month name."""
    return MONTHS[name.rstrip(".").lower()]


def ym(year: int, month: int) -> str:
    """ "YYYY-MM" of ``year`` and ``month`` (1–12; other values roll into nearby years)."""
    year += (month - 1) // 12
    month = (month - 1) % 12 + 1
    return f"{year:04d}-{month:02d}"


def label_of(start: str, end: str) -> str:
    """A plain label for a range of months: "April 2017", "December 2018 – January 2019"."""
    first = f"{MONTH_NAMES[int(start[5:]) - 1]} {start[:4]}"
    if start == end:
        return first
    last = f"{MONTH_NAMES[int(end[5:]) - 1]} {end[:4]}"
    if start[:4] == end[:4]:
        first = MONTH_NAMES[int(start[5:]) - 1]
    return f"{first} – {last}"


def months_between(start: str, end: str) -> int:
    """How many months ``start`` … ``end`` covers, both included."""
    return (int(end[:4]) - int(start[:4])) * 12 + int(end[5:]) - int(start[5:]) + 1


def _second_year(m: re.Match[str]) -> int | None:
    """The second year of "2018/19" when it follows the first; None otherwise."""
    first, second = int(m.group("fy")), m.group("fy2")
    year2 = int(second) + (first // 100) * 100 if len(second) == 2 else int(second)
    return first if year2 == first + 1 else None


def _span(text: str) -> tuple[Period, tuple[int, int]] | None:
    m = _SPAN.search(text)
    if m is None:
        return None
    m1, m2, y2 = month_number(m.group("m1")), month_number(m.group("m2")), int(m.group("y2"))
    y1 = int(m.group("y1")) if m.group("y1") else (y2 - 1 if m1 > m2 else y2)
    start, end = ym(y1, m1), ym(y2, m2)
    if not start < end or months_between(start, end) > 12:
        return None
    return Period(start, end, label_of(start, end), "months"), m.span()


def _quarter(text: str) -> tuple[Period, tuple[int, int]] | None:
    m = _QUARTER.search(text)
    if m is None:
        return None
    q = int(m.group("q"))
    if m.group("fy"):
        first = _second_year(m)
        if first is None:
            return None
        start = ym(first, 4 + 3 * (q - 1))
        label = f"Quarter {q} {first}/{(first + 1) % 100:02d}"
    else:
        year = int(m.group("cy"))
        start = ym(year, 1 + 3 * (q - 1))
        label = f"Quarter {q} {year}"
    end = ym(int(start[:4]), int(start[5:]) + 2)
    return Period(start, end, label, "quarter"), m.span()


def _season(text: str) -> tuple[Period, tuple[int, int]] | None:
    m = _SEASON.search(text)
    if m is None:
        return None
    season = m.group("season").lower()
    name = "Autumn" if season == "fall" else season.capitalize()
    if m.group("fy"):
        first = _second_year(m)
        if first is None:
            return None
        # "Winter 2018/19" starts in 2018; any other season of a split year is
        # in its second year ("Spring 2018/19" is the spring of 2019).
        year = first if season == "winter" else first + 1
        label = f"{name} {first}/{(first + 1) % 100:02d}"
    else:
        year = int(m.group("y"))
        label = f"{name} {year}"
    start = ym(year, _SEASON_START[season])
    end = ym(year, _SEASON_START[season] + 2)
    return Period(start, end, label, "season"), m.span()


def _term(text: str) -> tuple[Period, tuple[int, int]] | None:
    m = _TERM.search(text)
    if m is None:
        return None
    term = m.group("term").lower()
    first_month, length = _TERMS[term]
    if m.group("fy"):
        first = _second_year(m)
        if first is None:
            return None
        # A school year starts in September: only its autumn term is in the first year.
        year = first if term == "autumn" else first + 1
        label = f"{term.capitalize()} term {first}/{(first + 1) % 100:02d}"
    else:
        year = int(m.group("y"))
        label = f"{term.capitalize()} term {year}"
    start = ym(year, first_month)
    end = ym(year, first_month + length - 1)
    return Period(start, end, label, "term"), m.span()


def _month(text: str) -> tuple[Period, tuple[int, int]] | None:
    m = _MONTH.search(text)
    if m is None:
        return None
    start = ym(int(m.group("y")), month_number(m.group("m")))
    return Period(start, start, label_of(start, start), "month"), m.span()


def _financial(text: str) -> tuple[Period, tuple[int, int]] | None:
    m = _FINANCIAL.search(text)
    if m is None:
        return None
    first = _second_year(m)
    if first is None:
        return None
    label = f"Financial year {first}/{(first + 1) % 100:02d}"
    return Period(ym(first, 4), ym(first + 1, 3), label, "financial-year"), m.span()


def _year(text: str) -> tuple[Period, tuple[int, int]] | None:
    m = _YEAR_ALONE.search(text)
    if m is None:
        return None
    year = int(m.group("y"))
    return Period(ym(year, 1), ym(year, 12), str(year), "year"), m.span()


@dataclass(frozen=True)
class Yearless:
    """A period named without its year: the first month, how many months, a label stem."""

    first_month: int
    months: int
    name: str
    kind: PeriodKind

    def placed(self, near: str) -> Period:
        """This period in the year that puts it nearest the month ``near`` ("YYYY-MM").

        Distance is in months from ``near`` to the period (0 when inside it); of
        two equally near the later wins, as an update usually looks ahead.
        """
        target = int(near[:4]) * 12 + int(near[5:7]) - 1
        best: tuple[int, int] | None = None
        for year in (int(near[:4]) + 1, int(near[:4]), int(near[:4]) - 1):
            first = year * 12 + self.first_month - 1
            last = first + self.months - 1
            distance = max(first - target, target - last, 0)
            if best is None or distance < best[0]:
                best = (distance, year)
        assert best is not None  # three candidates were tried
        year = best[1]
        start = ym(year, self.first_month)
        end = ym(year, self.first_month + self.months - 1)
        if self.kind == "season" and self.first_month == 12:
            label = f"{self.name} {year}/{(year + 1) % 100:02d}"
        elif self.kind in ("season", "term"):
            label = f"{self.name} {year}"
        else:
            label = label_of(start, end)
        return Period(start, end, label, self.kind)


def find_yearless_period(text: str) -> Yearless | None:
    """The period ``text`` names without a year ("Autumn", "Spring term", "June/July"), or None.

    For text in which :func:`find_period` finds nothing: a title such as
    "East Midlands Region – Autumn Update" (region and update words taken out).
    """
    m = _YEARLESS_TERM.search(text)
    if m is not None:
        term = m.group("term").lower()
        first_month, length = _TERMS[term]
        return Yearless(first_month, length, f"{term.capitalize()} term", "term")
    m = _YEARLESS_SPAN.search(text)
    if m is not None:
        m1, m2 = month_number(m.group("m1")), month_number(m.group("m2"))
        length = (m2 - m1) % 12 + 1
        if 1 < length <= 12:
            return Yearless(m1, length, "", "months")
    m = _YEARLESS_SEASON.search(text)
    if m is not None:
        season = m.group("season").lower()
        name = "Autumn" if season == "fall" else season.capitalize()
        return Yearless(_SEASON_START[season], 3, name, "season")
    m = _YEARLESS_MONTH.search(text)
    if m is not None:
        return Yearless(month_number(m.group("m")), 1, "", "month")
    return None
