"""Choosing the parser: by file extension, else by sniffing the content.

Contract of :func:`detect_format`: ``.md``/``.markdown`` is Markdown and
``.json`` JSON whatever they contain (the organiser named them so); any other
name is sniffed — a text starting with "{" is JSON, one starting with YAML
front matter or containing an ATX heading line ("# Title", "## Section") is
Markdown, and everything else is the plain-text family.  The website copy
never has lines starting with "#", so the sniffing does not misfire on it.
"""

from __future__ import annotations

import re
from pathlib import PurePath
from typing import Literal

Format = Literal["text", "markdown", "json"]
FORMATS: tuple[str, ...] = ("auto", "text", "markdown", "json")

_BY_SUFFIX: dict[str, Format] = {".md": "markdown", ".markdown": "markdown", ".json": "json"}
_ATX_HEADING = re.compile(r"^#{1,6}[ \t]+\S", re.MULTILINE)
_FRONT_MATTER = re.compile(r"\A\ufeff?---[ \t]*\r?\n")


def detect_format(name: str | PurePath, text: str) -> Format:
    """The format of ``text`` read from a file called ``name``."""
    by_suffix = _BY_SUFFIX.get(PurePath(str(name)).suffix.lower())
    if by_suffix is not None:
        return by_suffix
    return sniff(text)


def sniff(text: str) -> Format:
    """The format ``text`` looks like (see the module docstring)."""
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped.startswith("{"):
        return "json"
    if _FRONT_MATTER.match(text.lstrip("\ufeff")) or _ATX_HEADING.search(text):
        return "markdown"
    return "text"
