"""An update's title line, and the region and period it names.

Titles of the family put the same three things in any order: a region, the
word "Update" (or "Regional Update", "Bulletin", "Newsletter"), and a period:
"North East Update April 2017", "February 2019: East of England update",
"North West October Update 2018", "South West Update December 2018 – January
2019", "South East Region Update – Quarter 2 2019/20", "West Midlands Update
Winter 2018/19".  So we read them by parts rather than by one order:

* the region is the known region (:mod:`newsletter.ingest.regions`) the
  title spells, stored under its canonical name;
* the period is read (:mod:`newsletter.ingest.periods`) from what is left
  once the region and the update words are taken out, which joins a month
  and a year that other words separate ("October Update 2018");
* a period named without its year ("Autumn Update") is kept as
  :attr:`Title.yearless` for the caller to place from the update's dates;
* anything else left is reported by :attr:`Title.unplaced` so ingest can
  warn about it (an unknown region such as "Cumbria").

Contract: :func:`read_title` never fails — any text is a title, with region
or period None when it names none; :func:`looks_like_title` says whether a
line is title-shaped enough to be picked out of a document.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from newsletter.ingest.periods import (
    MONTH_PATTERN,
    MONTHS,
    Period,
    Yearless,
    find_period,
    find_yearless_period,
)
from newsletter.ingest.regions import Regions, load_regions

__all__ = ["MONTHS", "MONTH_PATTERN", "Title", "looks_like_title", "read_title"]

_UPDATE_WORDS = re.compile(
    r"(?i)(?<!\w)(?:region(?:al)?\s+)?(?:update|newsletter|bulletin|round-?up)s?(?!\w)"
)
_FILLER = re.compile(r"(?i)(?<!\w)(?:region(?:al)?|the|for|of|edition|issue|from|in)(?!\w)")
_MAX_TITLE_CHARS = 120
_MAX_TITLE_WORDS = 16


@dataclass(frozen=True)
class Title:
    """A title: its text, region (canonical name), period, and the words not placed.

    ``yearless`` is the period the title names without a year, when ``period``
    is None.
    """

    text: str
    region: str | None
    period: Period | None
    unplaced: str = ""
    has_update_word: bool = False
    yearless: Yearless | None = None


def read_title(line: str, regions: Regions | None = None) -> Title:
    """The region and period ``line`` names (see the module docstring); never fails."""
    text = " ".join(line.split())
    if len(text) > _MAX_TITLE_CHARS * 4:
        # Not a title; keep the work bounded and say nothing is placed.
        return Title(text, None, None, text[:60])
    regions = regions or load_regions()
    found = regions.find(text)
    rest = text if found is None else f"{text[: found.start]} {text[found.end :]}"
    has_update = _UPDATE_WORDS.search(rest) is not None
    rest = _UPDATE_WORDS.sub(" ", rest)
    rest = " ".join(rest.split())
    period_found = find_period(rest)
    period: Period | None = None
    yearless: Yearless | None = None
    if period_found is not None:
        period, (start, end) = period_found
        rest = f"{rest[:start]} {rest[end:]}"
    else:
        yearless = find_yearless_period(rest)
    leftover = " ".join(_FILLER.sub(" ", re.sub(r"[^\w’'&]+", " ", rest)).split())
    return Title(text, found.name if found else None, period, leftover, has_update, yearless)


def looks_like_title(line: str, regions: Regions | None = None) -> Title | None:
    """The Title ``line`` spells when it is title-shaped, else None.

    Title-shaped: at most 120 characters and 16 words, not ending like a
    sentence, and either the update word with a region or a period, or a
    region and a period with nothing else ("London – Spring 2019").
    """
    text = " ".join(line.split())
    if not text or len(text) > _MAX_TITLE_CHARS or len(text.split()) > _MAX_TITLE_WORDS:
        return None
    if text.endswith((".", ";", ",", "?", "!")):
        return None
    title = read_title(text, regions)
    if title.has_update_word and (title.region or title.period):
        return title
    if title.region and title.period and not title.unplaced:
        return title
    return None
