"""Markdown updates written by organisers (parsed with markdown-it-py, CommonMark).

Contract of :func:`parse_markdown`: returns the Update (audiences default;
the caller applies the rules) and warnings; raises :class:`IngestError` for
bad front matter (see :mod:`newsletter.ingest.frontmatter`) or nesting too
deep to read.  A document with neither front matter ``title`` nor a ``#``
heading is still an update: its first heading or short line is the title,
with a warning.

* title: front matter ``title``, else the first ``#`` heading; region and
  period: front matter, else read from the title as for the text family
  (a period range and label; a title without one is kept with a warning);
* block quotes and lists nested deeper than :data:`MAX_NESTING` levels are
  an error naming the line, because the parser would skip their content;
* every other heading (``#`` to ``######``) starts a section — the content
  model has one heading level; text before the first one is the None section;
* paragraphs, block quotes and code blocks become paragraphs; bullet and
  numbered lists become bullet blocks (nested items are flattened in order);
* inline markup becomes plain text: emphasis dropped, a link keeps its URL in
  brackets after its text ("Book (https://…)") so the text email still
  carries it, an image its alt text;
* website chrome as in the text family is not body text: a paragraph
  starting "Tags:" (or "Keywords -"; bold or not) gives tags after the front
  matter's, and a "Featured event" block — a paragraph or block quote whose
  first line is the label, or a "Featured event" heading and the paragraph
  under it — gives a featured event read line by line as the text family
  reads it (:mod:`newsletter.ingest.featured`);
* events: the front matter ``events`` list when given (the organiser was
  explicit), else the featured events and the events found in the prose as
  for the text family;
* contacts: front matter ``contacts``, then any address in the body.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

from markdown_it import MarkdownIt
from markdown_it.token import Token

from newsletter.content import Event, Tag, Update
from newsletter.ingest import blocks
from newsletter.ingest.blocks import Kind
from newsletter.ingest.contacts import find_contacts
from newsletter.ingest.errors import IngestError
from newsletter.ingest.events import YearHints, find_events, section_pieces
from newsletter.ingest.featured import featured_block, featured_label, merge_featured
from newsletter.ingest.frontmatter import read_front_matter, split_front_matter
from newsletter.ingest.periods import Period, label_of
from newsletter.ingest.tags import TAGS_LABEL, parse_tags
from newsletter.ingest.titles import read_title

#: Deepest nesting of block quotes and lists read; the parser skips what is
#: deeper, so :func:`_check_depth` turns that into an error naming the line.
MAX_NESTING = 40
_MD = MarkdownIt("commonmark", {"maxNesting": MAX_NESTING})
_CONTAINERS = frozenset(
    ("blockquote_open", "bullet_list_open", "ordered_list_open", "list_item_open")
)
_MdKind = Literal["title", "heading", "paragraph", "item"]


class _Unit(NamedTuple):
    """A heading, paragraph or list item: its text, its lines, its first line's number."""

    kind: Kind
    text: str
    lines: tuple[str, ...]
    line: int


def parse_markdown(text: str, source_name: str) -> tuple[Update, list[str]]:
    """Parse a Markdown update; raises IngestError (front matter, no title)."""
    warnings: list[str] = []
    yaml_text, body = split_front_matter(text)
    fm = read_front_matter(yaml_text, source_name, warnings) if yaml_text is not None else None
    try:
        tokens = _MD.parse(body)
    except RecursionError as exc:
        raise IngestError(source_name, "Markdown nested too deeply") from exc
    _check_depth(tokens, source_name, _line_offset(text, body))
    title = fm.title if fm else None
    offset = _line_offset(text, body)
    units: list[_Unit] = []
    for kind, content, lines, line in _walk(tokens):
        unit = _Unit("heading", content, lines, line + offset + 1)
        if kind != "title":
            units.append(unit._replace(kind=kind))
        elif title is None:
            title = unit.text
        elif unit.text != title:
            # A second "#" heading, or one besides a front-matter title.
            units.append(unit)
    if not title:
        title, units = _title_from_body(units)
        warnings.append(
            f"no '# Title' line or 'title:' front matter: the title is {title!r};"
            " correct it if that is wrong"
        )
    title = " ".join(title.split())
    read = read_title(title)
    region = (fm.region if fm else None) or read.region
    period = read.period
    # Front matter names one month and wins; the title's range is kept when it
    # starts in that month.
    if fm is not None and fm.period is not None and (period is None or period.start != fm.period):
        period = Period(fm.period, fm.period, label_of(fm.period, fm.period), "month")
    if period is None:
        warnings.append(f"title {title[:80]!r} names no period; add 'period:' front matter")
    hints = YearHints(period.start, period.end) if period else YearHints(None)
    units, body_tags = _take_tags(units)
    tags = [*(fm.tags if fm else []), *body_tags]
    units, featured = _take_featured(units, hints, warnings)
    sections = blocks.sections([(unit.kind, unit.text) for unit in units])
    if fm is not None and fm.events is not None:
        events = fm.events
    else:
        prose = find_events(section_pieces(sections), hints, warnings)
        events = merge_featured(featured, prose, region, warnings) + prose
    body_texts = [unit.text for unit in units]
    update = Update(
        title=title,
        region=region,
        period=period.start if period else None,
        period_end=period.end if period else None,
        period_label=period.label if period else None,
        sections=sections,
        tags=tags,
        contacts=find_contacts([*(fm.contacts if fm else []), *body_texts]),
        events=events,
    )
    return update, warnings


def _take_tags(units: list[_Unit]) -> tuple[list[_Unit], list[Tag]]:
    """``units`` without the tags-line paragraphs ("**Tags:** SEND (3)"), and their tags."""
    kept: list[_Unit] = []
    lines: list[str] = []
    for unit in units:
        m = TAGS_LABEL.match(unit.lines[0]) if unit.kind == "paragraph" else None
        if m is None:
            kept.append(unit)
        else:
            lines.extend(part for part in (m.group("rest"), *unit.lines[1:]) if part.strip())
    return kept, parse_tags(lines)


def _take_featured(
    units: list[_Unit], hints: YearHints, warnings: list[str]
) -> tuple[list[_Unit], list[tuple[int, Event]]]:
    """``units`` without their "Featured event" blocks, and the blocks' events (see module docs).

    The block's lines are the paragraph's (or block quote's) own, after its
    label line, or those of the paragraph under a "Featured event" heading;
    lines of that paragraph the block does not use stay body text.
    """
    kept: list[_Unit] = []
    found: list[tuple[int, Event]] = []
    index = 0
    while index < len(units):
        unit = units[index]
        index += 1
        label = featured_label(unit.lines[0]) if unit.kind in ("heading", "paragraph") else None
        if label is None:
            kept.append(unit)
            continue
        lines = list(unit.lines)
        if unit.kind == "heading" and index < len(units) and units[index].kind == "paragraph":
            lines.extend(units[index].lines)
            index += 1
        used, event, named = featured_block(lines, 0, len(lines), -1, hints, warnings)
        if event is not None:
            found.append((unit.line - 1, event))
        elif named:
            warnings.append(
                f"line {unit.line}: featured event {named!r} has no date: kept out of the"
                " body, not made an event"
            )
        left = [line for at, line in enumerate(lines) if at not in used and at > 0 and line]
        if left:
            kept.append(_Unit("paragraph", " ".join(left), tuple(left), unit.line))
    return kept, found


def _title_from_body(units: list[_Unit]) -> tuple[str, list[_Unit]]:
    """A title for a document without one, and the units left for the body.

    The first heading (any level) or short line is the title; a long first
    paragraph stays in the body and lends its first words.
    """
    if not units:
        return "Untitled update", units
    kind, text = units[0].kind, units[0].text
    words = text.split()
    if kind == "heading" or (len(text) <= 120 and not text.rstrip().endswith(".")):
        return text, units[1:]
    return " ".join(words[:10]) + ("…" if len(words) > 10 else ""), units


def _line_offset(text: str, body: str) -> int:
    """How many lines of front matter come before ``body`` in ``text``."""
    return text[: len(text) - len(body)].count("\n")


def _check_depth(tokens: list[Token], source_name: str, offset: int) -> None:
    """Raise IngestError when a block is nested too deep for the parser to read its content."""
    for token in tokens:
        if token.type in _CONTAINERS and token.level + 1 >= MAX_NESTING:
            line = (token.map[0] if token.map else 0) + offset + 1
            raise IngestError(
                source_name,
                f"line {line}: Markdown nested more than {MAX_NESTING - 1} levels deep (block"
                " quotes or lists); its content would be lost, so flatten it",
            )


def _walk(tokens: list[Token]) -> list[tuple[_MdKind, str, tuple[str, ...], int]]:
    """("title" for h1 | "heading" | "paragraph" | "item", text, lines, line) in document order.

    ``lines`` are the text as the source broke it into lines (a code block is
    one); ``line`` is where it starts in the body, counted from 0.
    """
    out: list[tuple[_MdKind, str, tuple[str, ...], int]] = []
    list_depth = 0
    heading: str | None = None
    for token in tokens:
        if token.type in ("bullet_list_open", "ordered_list_open"):
            list_depth += 1
        elif token.type in ("bullet_list_close", "ordered_list_close"):
            list_depth -= 1
        elif token.type == "heading_open":
            heading = token.tag
        elif token.type == "heading_close":
            heading = None
        elif token.type == "inline":
            content = _plain(token.children or []).strip()
            if not content:
                continue
            line = token.map[0] if token.map else 0
            lines = tuple(part.strip() for part in content.split("\n"))
            text = content.replace("\n", " ")
            if heading is not None:
                out.append(("title" if heading == "h1" else "heading", text, lines, line))
            else:
                out.append(("item" if list_depth else "paragraph", text, lines, line))
        elif token.type in ("fence", "code_block", "html_block") and token.content.strip():
            line = token.map[0] if token.map else 0
            content = token.content.strip()
            out.append(("item" if list_depth else "paragraph", content, (content,), line))
    return out


def _plain(children: list[Token]) -> str:
    """Inline tokens as plain text (see the module docstring for links and images).

    Line breaks stay "\n", for the readers that go by lines (featured blocks).
    """
    parts: list[str] = []
    links: list[tuple[str, int]] = []
    for child in children:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type == "softbreak" or child.type == "hardbreak":
            parts.append("\n")
        elif child.type == "image":
            parts.append(child.content)
        elif child.type == "link_open":
            links.append((str(child.attrs.get("href", "")), len(parts)))
        elif child.type == "link_close" and links:
            href, began = links.pop()
            label = "".join(parts[began:]).strip()
            target = href.removeprefix("mailto:")
            if target and target != label:
                parts.append(f" ({target})")
    return "".join(parts)
