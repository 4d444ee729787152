"""Contact email addresses found in an update's text.

Contract of :func:`find_contacts`: every address-shaped string, in order of
first appearance, once each (compared case-insensitively, spelt as first
written), without a "mailto:" prefix or trailing sentence punctuation.  An
address written against harvesting robots, "jo.bloggs [at] walsall.gov.uk"
or "jo.bloggs(at)walsall.gov.uk", is read as the address it spells; the text
itself keeps it as written.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Deliberately simpler than RFC 5322: the addresses in updates are ordinary
# "first.last@council.gov.uk" ones, and a looser pattern would catch
# punctuation around them.
_EMAIL_RE = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}(?![\w-])"
)
# "[at]" or "(at)", with or without spaces around it, between an address's parts.
_SPELT_AT = re.compile(r"(?i)(?<=[A-Za-z0-9])\s*[\[(]\s*at\s*[\])]\s*(?=[A-Za-z0-9])")


def find_contacts(texts: Iterable[str]) -> list[str]:
    """Email addresses in ``texts``, deduplicated, in order of appearance."""
    seen: set[str] = set()
    found: list[str] = []
    for text in texts:
        if "t]" in text or "t)" in text or "T]" in text or "T)" in text:
            text = _SPELT_AT.sub("@", text)
        if "@" not in text:
            continue  # the address search is costly on long lines; most have none
        for m in _EMAIL_RE.finditer(text):
            address = m.group(0)
            if address.lower() not in seen:
                seen.add(address.lower())
                found.append(address)
    return found
