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
_LONGEST_LINE = max(len(line) for line in _LINES) + 2
# Breadcrumbs: three or more short parts joined by "›" or "»", or any number
# starting from "Home" joined by those, ">" or " / " (which text uses
# otherwise: "attendance > 90%", "June/July 2019").
_CRUMBS = re.compile(
    r"(?i)^(?:you\s+are\s+here\s*:?\s*)?(?:[^›»]{1,50}(?:\s*[›»]\s*[^›»]{1,50}){2,}"
    r"|home(?:\s*(?:[›»>]|\s/\s)\s*[^›»>/]{1,50})+)$"
)
_CRUMB_STARTS = frozenset(("home", "you"))
_FEEDBACK_STARTS = frozenset(("was", "is", "did"))
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
    """True when ``line`` is web-page furniture rather than the update (see the module docs).

    Every line of an update is tested, so each test runs only when a cheap
    look at the line's first word or characters allows it.
    """
    if not line or len(line) > _MAX_CHROME_CHARS:
        return False
    if len(line) <= _LONGEST_LINE and line.lower().rstrip(" .:") in _LINES:
        return True
    first = line.split(None, 1)[0].lower()
    if ("›" in line or "»" in line or first in _CRUMB_STARTS) and _CRUMBS.match(line):
        return True
    if first in _FEEDBACK_STARTS and _FEEDBACK.match(line):
        return True
    if first.startswith(("©", "(c", "copyright")) and _COPYRIGHT.match(line):
        return True
    if first.strip("|·:") in _SHARE_WORDS:
        words = _WORDS.findall(line.lower())
        if all(w in _SHARE_WORDS for w in words) and any(w in _SOCIAL for w in words):
            return True
    return "|" in line and _footer_links(line.lower())


def _footer_links(lower: str) -> bool:
    """ "Privacy | Cookies | Accessibility statement": short parts, one a footer link."""
    parts = [p.strip() for p in lower.split("|")]
    if len(parts) < 2 or any(not p or len(p.split()) > 4 for p in parts):
        return False
    return any(p.split()[0] in _FOOTER_LINKS or p in _FOOTER_LINKS for p in parts)
