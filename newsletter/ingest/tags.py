"""An update's tags: the site's "Tags assigned to this article:" block and the lines like it.

Contract: :func:`tag_blocks` finds every tags block of a text's lines (the
label — "Tags assigned to this article:", "Tags:", "Keywords -" — with the
tags on its line or on the non-blank lines after it) and :func:`parse_tags`
reads the names and counts from those lines.  Both are linear in the text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from newsletter.content import Tag

TAGS_LABEL = re.compile(
    r"(?i)^(?:tags(?:\s+assigned\s+to\s+this\s+article)?|key\s?words)\s*(?::|-|–|—)\s*"
    r"(?P<rest>.*)$"
)
_RELATED = re.compile(r"(?i)^related\s+(?:articles|posts|news)\s*:?$")
_SEPARATORS = frozenset(",;|·")
# A count is a bare number ("SLI 100") or one in brackets ("London (41)").
_TOKEN = re.compile(r"\(\d+\)|[^\s,;|·()]+|[,;|·]")


def is_related(line: str) -> bool:
    """True for the site's "Related Articles" line, after which nothing is the update's."""
    return _RELATED.match(line) is not None


def parse_tags(lines: Sequence[str]) -> list[Tag]:
    """Tags from tag lines: "SLI 100 NORTH EAST 15" -> SLI (100), NORTH EAST (15).

    A name is the words before a count, bare or in brackets ("London (41),
    SEND (3)"); names separated by ",", ";", "|" or "·" without a count get
    ``count=None``.
    """
    tags: list[Tag] = []
    for line in lines:
        name: list[str] = []
        for token in _TOKEN.findall(line):
            count = token.strip("()")
            if count.isdigit() and name:
                tags.append(Tag(" ".join(name), int(count)))
                name = []
            elif token in _SEPARATORS:
                if name:
                    tags.append(Tag(" ".join(name), None))
                name = []
            else:
                name.append(token)
        if name:
            tags.append(Tag(" ".join(name), None))
    return tags


def tag_blocks(lines: Sequence[str]) -> tuple[set[int], list[str]]:
    """Line indexes of every tags block (label and its lines) and the tag lines.

    A block is the label (tags may follow it on the same line) and the
    non-blank lines right after it, up to a blank line or another label.
    """
    used: set[int] = set()
    tag_lines: list[str] = []
    for index, line in enumerate(lines):
        m = TAGS_LABEL.match(line)
        if m is None or index in used:
            continue
        used.add(index)
        if m.group("rest").strip():
            tag_lines.append(m.group("rest").strip())
        following = index + 1
        while following < len(lines) and lines[following]:
            if is_related(lines[following]) or TAGS_LABEL.match(lines[following]):
                break
            used.add(following)
            tag_lines.append(lines[following])
            following += 1
    return used, tag_lines
