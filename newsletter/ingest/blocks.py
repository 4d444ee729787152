"""Lines of running text into sections of paragraphs and bullet lists.

The rules, for text copied from the region's website (one paragraph a line,
paragraphs separated by blank lines — one or more):

* a *bullet item* is a line starting with "•", "-", "*", "–", "◦", "▪", "‣",
  "·", "●" (then a space), "1." / "1)" or "(a)" / "a)"; the marker is dropped.
  Consecutive items form one bullet block even when blank lines separate
  them; a line after an item in the same chunk continues that item; a marker
  alone on its line takes the next line as its text.  Numbered lists become
  bullet blocks too (the content model has one list type).
* a *heading* is a short line (at most 12 words, 90 characters) starting
  with a capital or digit, without closing punctuation (".", ":", ";", ",",
  "!", "…"), no address or link, not a date — and followed by body text
  (a paragraph or a bullet).  A question ("What happens next?") of up to 10
  words may be a heading: website headings often are questions, whereas a
  one-line question paragraph directly followed by more text is rare.
  A heading candidate not followed by body (a sign-off, a name, the first of
  two stacked short lines) stays a paragraph, so no text is ever lost.
* in a chunk of several lines a line is a heading when it is heading shaped
  and clearly shorter than the next line (hard-wrapped paragraphs have lines
  of similar length) or the next line is a bullet, and it is the chunk's
  first line or the line before it ends a sentence or is a list item (text
  pasted without blank lines: "…since then.", "Awards", "The awards…");
  other lines join into one paragraph with single spaces.
* a line underlined with "===", "---" or "~~~" (three or more) is a heading
  when body text follows it, wherever it stands; a rule line of those
  characters anywhere else is dropped.
* a short line ending in ":" alone between blank lines ("Workforce:") is a
  heading when the update heads sections that way — at least two such lines
  directly followed by a paragraph — and the colon is dropped; otherwise
  ("Summary:" once, or "Our priorities are:" before a list) it stays text.
* a numbered line alone between blank lines ("1. Workforce", "2) Funding")
  whose text is heading shaped is a heading, its number dropped, when the
  update numbers its sections that way — at least two such lines directly
  followed by a paragraph; otherwise it stays a list item.
* a run of two or more lines that split at tabs into the same number of
  cells is a table (as copied from a web page or a document); each row
  becomes a list item of its cells joined by " – " ("Tue 5 Apr – WM DCS
  meeting – Walsall Council House"), so its dates are read as events.
* text before the first heading is a section whose heading is None.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

from newsletter.content import Block, Bullets, Paragraph, Section
from newsletter.ingest.dates import FEATURED_RE
from newsletter.ingest.events import DATE_RE

BULLET_RE = re.compile(r"^(?:[•\-*–◦▪‣·●]|\d{1,2}[.)]|\(?[a-z]\))(?:\s+(?P<text>.*))?$", re.DOTALL)
_CLOSING = tuple(".:;,!…")
_TRAILING_WRAPPERS = "\"'”’)]»"
_MAX_HEADING_WORDS = 12
_MAX_QUESTION_WORDS = 10
_MAX_HEADING_CHARS = 90
#: Most words of a "Workforce:" label heading.
_MAX_LABEL_WORDS = 6
_RULE_RE = re.compile(r"^(?:={3,}|-{3,}|~{3,}|_{3,})$")
_ANY_RULE_RE = re.compile(r"(?m)^(?:={3,}|-{3,}|~{3,}|_{3,})$")

Kind = Literal["candidate", "label", "numbered", "paragraph", "item", "heading"]
_NUMBERED_RE = re.compile(r"^\d{1,2}[.)]\s+(?P<text>.*)$")


def chunks(lines: Sequence[str]) -> list[list[str]]:
    """Group stripped lines into runs separated by blank lines."""
    out: list[list[str]] = []
    current: list[str] = []
    for line in lines:
        if line:
            current.append(line)
        elif current:
            out.append(current)
            current = []
    if current:
        out.append(current)
    return out


def is_heading_shaped(line: str) -> bool:
    """True when ``line`` looks like a heading by itself (before the body test)."""
    if len(line) > _MAX_HEADING_CHARS:
        return False
    words = line.split()
    if not words or len(words) > _MAX_HEADING_WORDS:
        return False
    if BULLET_RE.match(line):
        return False
    core = line.rstrip(_TRAILING_WRAPPERS)
    if not core or core.endswith(_CLOSING):
        return False
    if core.endswith("?") and len(words) > _MAX_QUESTION_WORDS:
        return False
    first = line.lstrip("\"'“‘(")[:1]
    if not (first.isupper() or (first.isdigit() and any(c.isalpha() for c in line))):
        return False
    if "@" in line or "://" in line or "www." in line.lower():
        return False
    return not (FEATURED_RE.match(line) or DATE_RE.fullmatch(line))


def units(chunk_list: Sequence[Sequence[str]]) -> list[tuple[Kind, str]]:
    """Classify chunks into (kind, text) units; headings resolved (see module docs)."""
    raw: list[tuple[Kind, str]] = []
    for chunk in chunk_list:
        for part, underlined in _split_underlined(chunk):
            if underlined:
                raw.append(("candidate", part[0]))
            elif len(part) == 1 and _is_label(part[0]):
                raw.append(("label", part[0]))
            elif len(part) == 1 and _numbered_heading(part[0]):
                raw.append(("numbered", part[0]))
            else:
                raw.extend(_chunk_units(_join_lone_markers(part)))

    def followed_by_body(index: int) -> bool:
        return index + 1 < len(raw) and raw[index + 1][0] in ("paragraph", "item")

    def heads_paragraphs(of: Kind) -> bool:
        return (
            sum(
                1
                for index, (kind, _) in enumerate(raw)
                if kind == of and index + 1 < len(raw) and raw[index + 1][0] == "paragraph"
            )
            >= 2
        )

    labels_heading = heads_paragraphs("label")
    numbers_heading = heads_paragraphs("numbered")
    resolved: list[tuple[Kind, str]] = []
    for index, (kind, text) in enumerate(raw):
        if kind == "candidate":
            kind = "heading" if followed_by_body(index) else "paragraph"
        elif kind == "label":
            if labels_heading and raw[index + 1 : index + 2] and raw[index + 1][0] == "paragraph":
                kind, text = "heading", text[:-1].rstrip()
            else:
                kind = "paragraph"
        elif kind == "numbered":
            kind = "heading" if numbers_heading and followed_by_body(index) else "item"
            text = _item_text(text)
        resolved.append((kind, text))
    return resolved


def _split_underlined(chunk: Sequence[str]) -> list[tuple[list[str], bool]]:
    """A chunk cut at its underlined lines: (lines, True) for each underlined one.

    The underline itself is dropped, and so is a rule line under nothing.
    """
    # One search over the joined chunk: a chunk may be tens of thousands of lines.
    if not _ANY_RULE_RE.search("\n".join(chunk)):
        return [(list(chunk), False)]
    out: list[tuple[list[str], bool]] = []
    current: list[str] = []
    for line in chunk:
        if not _RULE_RE.match(line):
            current.append(line)
            continue
        if current and not BULLET_RE.match(current[-1]):
            heading = current.pop()
            if current:
                out.append((current, False))
            out.append(([heading], True))
        elif current:
            out.append((current, False))
        current = []
    if current:
        out.append((current, False))
    return out


def _is_label(line: str) -> bool:
    """ "Workforce:" — heading shaped but for its final colon (see the module docstring)."""
    if not line.endswith(":") or len(line.split()) > _MAX_LABEL_WORDS:
        return False
    core = line[:-1].rstrip()
    return bool(core) and not core.endswith(_CLOSING) and is_heading_shaped(core)


def _numbered_heading(line: str) -> bool:
    """ "1. Workforce" — heading shaped but for its number (see the module docstring)."""
    m = _NUMBERED_RE.match(line)
    return m is not None and is_heading_shaped(m.group("text").strip())


def sections(unit_list: Sequence[tuple[Kind, str]]) -> list[Section]:
    """Build sections from resolved units.

    A heading directly followed by another heading keeps its section, empty:
    it heads the ones after it (Markdown's "## Workforce" then "###
    Apprenticeships"); other empty sections are dropped.
    """
    out: list[Section] = []
    heading: str | None = None
    blocks: list[Block] = []
    items: list[str] = []

    def flush_items() -> None:
        if items:
            blocks.append(Bullets(items=tuple(items)))
            items.clear()

    for kind, text in unit_list:
        if kind == "item":
            items.append(text)
            continue
        if kind == "heading":
            flush_items()
            if blocks or heading is not None:
                out.append(Section(heading=heading, blocks=list(blocks)))
            heading, blocks = text, []
        else:
            flush_items()
            blocks.append(Paragraph(text=text))
    flush_items()
    if blocks:
        out.append(Section(heading=heading, blocks=blocks))
    return out


def _table_rows(chunk: Sequence[str]) -> dict[int, str]:
    """The chunk's table rows, by line index, each as its cells joined by " – ".

    A table is two or more consecutive lines that split at tabs into the same
    number (two or more) of cells, as a table copied from a web page or a
    document arrives: "Tue 5 Apr<TAB>WM DCS meeting<TAB>Walsall Council House".
    A list item ("–<TAB>Covid-19 recovery") is not a row.
    """
    rows: dict[int, str] = {}
    run: list[tuple[int, list[str]]] = []

    def close_run() -> None:
        if len(run) >= 2:
            rows.update((at, " – ".join(cells)) for at, cells in run)
        run.clear()

    for index, line in enumerate(chunk):
        if "\t" not in line:
            if run:
                close_run()
            continue
        cells = [c.strip() for c in line.split("\t") if c.strip()]
        if len(cells) < 2 or BULLET_RE.match(line):
            close_run()
            continue
        if run and len(run[-1][1]) != len(cells):
            close_run()
        run.append((index, cells))
    close_run()
    return rows


def _join_lone_markers(chunk: Sequence[str]) -> list[str]:
    """ "•" alone on a line, its text on the next: make them one item line."""
    out: list[str] = []
    for line in chunk:
        if out and BULLET_RE.match(out[-1]) and not _item_text(out[-1]):
            out[-1] = f"{out[-1]} {line}"
        else:
            out.append(line)
    return out


def _item_text(line: str) -> str:
    m = BULLET_RE.match(line)
    return (m.group("text") or "").strip() if m else ""


def _chunk_units(chunk: Sequence[str]) -> list[tuple[Kind, str]]:
    out: list[tuple[Kind, str]] = []
    if len(chunk) == 1 and is_heading_shaped(chunk[0]):
        return [("candidate", chunk[0])]
    rows = _table_rows(chunk)
    paragraph: list[str] = []
    # Continuation lines of the current item, joined once at the end: joining
    # line by line would copy the item each time (quadratic on long items).
    item: list[str] = []
    for index, line in enumerate(chunk):
        if index in rows:
            if paragraph:
                out.append(("paragraph", " ".join(paragraph)))
                paragraph = []
            if item:
                out.append(("item", " ".join(item)))
                item = []
            out.append(("item", rows[index]))
            continue
        # Running text starts lower case: skip the heading test for it cheaply.
        if not line[:1].islower() and _heads_next(chunk, index, rows):
            if paragraph:
                out.append(("paragraph", " ".join(paragraph)))
                paragraph = []
            if item:
                out.append(("item", " ".join(item)))
                item = []
            out.append(("candidate", line))
        elif BULLET_RE.match(line):
            if paragraph:
                out.append(("paragraph", " ".join(paragraph)))
                paragraph = []
            if item:
                out.append(("item", " ".join(item)))
                item = []
            text = _item_text(line)
            if text:
                item = [text]
        elif item:
            item.append(line)
        else:
            paragraph.append(line)
    if item:
        out.append(("item", " ".join(item)))
    if paragraph:
        out.append(("paragraph", " ".join(paragraph)))
    return out


def _heads_next(chunk: Sequence[str], index: int, rows: dict[int, str]) -> bool:
    """True when line ``index`` of a several-line chunk heads the lines after it.

    ``rows`` are the chunk's table rows (:func:`_table_rows`): a line before
    a table heads it as a line before a list does.
    """
    if index + 1 >= len(chunk) or not is_heading_shaped(chunk[index]):
        return False
    if index + 1 in rows:
        return index == 0 or chunk[index - 1].rstrip(_TRAILING_WRAPPERS).endswith(
            (".", "!", "?", ":")
        )
    nxt = chunk[index + 1]
    shorter = len(chunk[index]) <= 0.6 * len(nxt)
    if index > 0 and BULLET_RE.match(chunk[index - 1]):
        # After an item only a line heading a paragraph: one before another
        # item is more likely the item's wrapped text.
        return shorter and not BULLET_RE.match(nxt)
    if index > 0 and not chunk[index - 1].rstrip(_TRAILING_WRAPPERS).endswith((".", "!", "?", ":")):
        return False
    return bool(BULLET_RE.match(nxt)) or shorter
