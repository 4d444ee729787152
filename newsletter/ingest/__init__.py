"""Ingest: update files (website text, Markdown, JSON) into :class:`Update`.

Public API::

    parse_file(path, fmt="auto") -> ParseResult      # reads, decodes, checks
    parse_text(text, fmt="auto", source_name="<text>") -> Update

Contract: both raise only :class:`IngestError` ("FILE: reason"), a
:class:`~newsletter.errors.UserError`, for bad input — empty, binary, over
1 MB, malformed front matter or JSON, Markdown nested too deep to read,
malformed audience rules or regions file — and never store anything.  A
title that cannot be placed is not bad input: the update is kept with the
region or period missing.  Problems that do not stop parsing (bytes repaired
from Windows-1252, text before the title, a title without a period, dates
whose year was guessed, a featured event that needs a title) come back as
``ParseResult.warnings``.  Every section gets audiences from the keyword
rules (:mod:`newsletter.ingest.audiences`).  Parsing is linear in the input
size (see ``benchmarks/ingest.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from newsletter.content import Update
from newsletter.ingest.audiences import AudienceRules, load_rules
from newsletter.ingest.detect import FORMATS, Format, detect_format, sniff
from newsletter.ingest.errors import AudienceRulesError, IngestError
from newsletter.ingest.jsonfmt import parse_json
from newsletter.ingest.markdown import parse_markdown
from newsletter.ingest.reading import MAX_BYTES, check_text, decode, read_file
from newsletter.ingest.text import parse_plain_text

__all__ = [
    "FORMATS",
    "MAX_BYTES",
    "AudienceRulesError",
    "IngestError",
    "ParseResult",
    "decode",
    "parse_bytes",
    "parse_file",
    "parse_text",
]


@dataclass
class ParseResult:
    """An update parsed from a file, with what was noticed on the way."""

    update: Update
    source: str
    format: Format
    warnings: list[str] = field(default_factory=list)


def parse_file(path: Path, fmt: str = "auto", rules: AudienceRules | None = None) -> ParseResult:
    """Read and parse the update at ``path``; raises IngestError naming the file.

    ``fmt`` is one of "auto", "text", "markdown", "json"; ``rules`` defaults
    to the configured audience rules.
    """
    text, warnings = read_file(path)
    return _parse(text, fmt, str(path), warnings, rules)


def parse_bytes(
    data: bytes, source_name: str, fmt: str = "auto", rules: AudienceRules | None = None
) -> ParseResult:
    """Parse an update's raw bytes (an upload); same checks as :func:`parse_file`."""
    text, warnings = decode(data, source_name)
    return _parse(text, fmt, source_name, warnings, rules)


def parse_text(
    text: str,
    fmt: str = "auto",
    source_name: str = "<text>",
    rules: AudienceRules | None = None,
) -> Update:
    """Parse an update given as text; raises IngestError naming ``source_name``.

    "auto" sniffs the content and also honours a ``.md``/``.json`` suffix on
    ``source_name``.  Warnings are dropped; use :func:`parse_bytes` or
    :func:`parse_file` to see them.
    """
    check_text(text, source_name)
    return _parse(text, fmt, source_name, [], rules).update


def _parse(
    text: str, fmt: str, source_name: str, warnings: list[str], rules: AudienceRules | None
) -> ParseResult:
    if fmt not in FORMATS:
        raise IngestError(source_name, f"unknown format {fmt!r} (use {', '.join(FORMATS)})")
    chosen: Format = detect_format(source_name, text) if fmt == "auto" else _as_format(fmt)
    rules = rules or load_rules()
    if chosen == "json":
        update, found = parse_json(text, source_name, rules)
    else:
        if chosen == "markdown":
            update, found = parse_markdown(text, source_name)
        else:
            update, found = parse_plain_text(text, source_name)
        rules.apply(update.sections)
    return ParseResult(update, source_name, chosen, [*warnings, *found])


def _as_format(fmt: str) -> Format:
    if fmt == "markdown":
        return "markdown"
    return "json" if fmt == "json" else "text"


# Re-exported for callers that sniff before choosing (the web upload form).
sniff_format = sniff
