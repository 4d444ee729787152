"""Website chrome: the lines a web page puts around an article, which are never its content.

An update pasted from the region's web page brings the page's furniture
with it: the skip link, breadcrumbs ("Home › Regions › London › News"),
search and print links, share buttons ("Share on Facebook | Share on
Twitter"), a "Was this page useful?" prompt and the footer ("© 2022 ALDCS |
Privacy | Cookies").  Contract of :func:`is_chrome`: True for such a line
(stripped), judged alone; each test is a bounded regex or word check, so
the cost is linear in the line.  The tags block, "Related Articles" and
featured events are website chrome too, with their own readers
(:mod:`newsletter.ingest.tags`, :mod:`newsletter.ingest.featured`).
"""

from __future__ import annotations

import re

#: Longest line tested: chrome lines are short, a paragraph never is chrome.
_MAX_CHROME_CHARS = 200
_LINES = frozenset(
    (
        *("share this article", "share this page", "print this page", "print"),
        *("back to top", "back to news", "skip to main content", "skip to content"),
        *("search this site", "search", "email this page", "menu", "main menu"),
    )
)
# Breadcrumbs: three or more short parts joined by "›" or "»", or any number
# starting from "Home" joined by those, ">" or " / " (which text uses
# otherwise: "attendance > 90%", "June/July 2019").
_CRUMBS = re.compile(
    r"(?i)^(?:you\s+are\s+here\s*:?\s*)?(?:[^›»]{1,50}(?:\s*[›»]\s*[^›»]{1,50}){2,}"
    r"|home(?:\s*(?:[›»>]|\s/\s)\s*[^›»>/]{1,50})+)$"
)
_FEEDBACK = re.compile(
    r"(?i)^(?:was|is|did\s+you\s+find)\s+this\s+(?:page|article|information)\s+"
    r"(?:useful|helpful)\b"
)
_COPYRIGHT = re.compile(r"(?i)^(?:©|\(c\)\s|copyright\b)")
_SOCIAL = frozenset(("facebook", "twitter", "linkedin", "whatsapp", "instagram", "youtube"))
_SHARE_WORDS = _SOCIAL | frozenset(
    ("share", "on", "via", "email", "e-mail", "print", "this", "page", "article", "x", "tweet")
)
_FOOTER_LINKS = frozenset(
    ("privacy", "cookies", "accessibility", "terms", "sitemap", "contact us", "disclaimer")
)
_WORDS = re.compile(r"[a-z][a-z\-]*")


def is_chrome(line: str) -> bool:
    """True when ``line`` is web-page furniture rather than the update (see the module docs)."""
    if not line or len(line) > _MAX_CHROME_CHARS:
        return False
    lower = line.lower()
    if lower.rstrip(" .:") in _LINES:
        return True
    if _CRUMBS.match(line) or _FEEDBACK.match(line) or _COPYRIGHT.match(line):
        return True
    words = _WORDS.findall(lower)
    if words and all(w in _SHARE_WORDS for w in words) and any(w in _SOCIAL for w in words):
        return True
    return "|" in line and _footer_links(lower)


def _footer_links(lower: str) -> bool:
    """ "Privacy | Cookies | Accessibility statement": short parts, one a footer link."""
    parts = [p.strip() for p in lower.split("|")]
    if len(parts) < 2 or any(not p or len(p.split()) > 4 for p in parts):
        return False
    return any(p.split()[0] in _FOOTER_LINKS or p in _FOOTER_LINKS for p in parts)
