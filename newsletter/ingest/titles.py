"""Recognising an update's title line, and the region and period it names.

The family's titles read "<Region> [Region|Regional] Update <Month> <Year>":
"North East Update April 2017", "North East Region Update December 2018",
"North East Regional Update September 2019".  We generalise to any region
name of capitalised words (with "and", "the", "of", "&", "upon" between), an
optional separator (":", "-", "–", ","), abbreviated months ("Sept"), and a
two-month span ("June/July 2019", whose period is the first month).  A title
with a season or only a year ("Spring 2019") or with no date at all is still a
title, but its period is None.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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

#: A month name, full or abbreviated (optionally with a dot), any case.
MONTH_PATTERN = (
    r"(?:January|February|March|April|May|June|July|August|September|October|November"
    r"|December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec)\.?"
)

_REGION_WORD = r"[A-Z][\w’'.\-]*"
_REGION = rf"{_REGION_WORD}(?:\s+(?:{_REGION_WORD}|and|the|of|upon|&))*"
_TITLE = re.compile(
    rf"^(?P<region>{_REGION}?)\s+(?:(?i:region(?:al)?)\s+)?(?i:updates?)"
    rf"(?:\s*[:,\-–—]\s*|\s+)?"
    rf"(?P<rest>.*)$"
)
_DATED = re.compile(
    rf"^(?i:(?P<month>{MONTH_PATTERN})(?:\s*(?:/|-|–|&|and)\s*{MONTH_PATTERN})?"
    rf"\s+(?P<year>(?:19|20)\d\d))$"
)
_UNDATED = re.compile(r"^(?i:(?:(?:spring|summer|autumn|winter)\s+)?(?:19|20)\d\d)?$")


@dataclass(frozen=True)
class Title:
    """A recognised title line: its text, region (as written) and period (YYYY-MM)."""

    text: str
    region: str | None
    period: str | None


def match_title(line: str, *, need_date: bool) -> Title | None:
    """Return the Title ``line`` spells, or None.

    With ``need_date`` only "<Region> … Update <Month> <Year>" counts — safe to
    look for anywhere in a document.  Without it a season, a bare year or no
    date are accepted too, which is only safe for a document's first line.
    """
    text = " ".join(line.split())
    if not text or len(text) > 120:
        return None
    m = _TITLE.match(text)
    if m is None or len(m.group("region").split()) > 6:
        return None
    region = m.group("region").strip() or None
    rest = m.group("rest").strip()
    dated = _DATED.match(rest)
    if dated is not None:
        month = MONTHS[dated.group("month").rstrip(".").lower()]
        return Title(text, region, f"{dated.group('year')}-{month:02d}")
    if need_date or region is None or _UNDATED.match(rest) is None:
        return None
    return Title(text, region, None)


def region_and_period(title: str) -> tuple[str | None, str | None]:
    """Region and period named by a free-form title (Markdown, JSON); None when absent."""
    found = match_title(title, need_date=False)
    if found is None:
        return None, None
    return found.region, found.period
