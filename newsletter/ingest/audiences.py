"""Audience segments per section, from keyword rules organisers can edit.

Rules live in a TOML file (the bundled ``newsletter/data/audiences.toml``, or
the one ``NEWSLETTER_AUDIENCE_RULES_PATH`` names); its comments explain the
format.  Contract:

* :func:`load_rules` raises :class:`AudienceRulesError` naming the file and
  the entry at fault ("segments.lead-member.keywords[2]: …");
* :meth:`AudienceRules.audiences_for` returns ``["dcs", …]``: ``dcs`` first,
  then each segment whose keyword occurs in the heading or body, in the
  file's order, each once.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from newsletter.config import get_settings
from newsletter.content import Bullets, Section
from newsletter.ingest.errors import AudienceRulesError
from newsletter.paths import DATA_DIR

BUNDLED_RULES = DATA_DIR / "audiences.toml"
ALWAYS = "dcs"
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_WORDS = re.compile(r"\w+")


@dataclass(frozen=True)
class AudienceRules:
    """Compiled rules: (segment slug, one pattern matching any of its keywords)."""

    rules: tuple[tuple[str, re.Pattern[str]], ...]
    #: Per rule, the lower-case first words of its keywords: a rule none of
    #: whose first words occurs in the text cannot match, and a substring
    #: test is ~50 times cheaper than the keyword search on a long section.
    first_words: tuple[frozenset[str], ...] = ()

    def audiences_for(self, texts: Iterable[str]) -> list[str]:
        """Segments for a section whose heading and body are ``texts``."""
        body = "\n".join(texts)
        lowered = body.lower()
        found = [ALWAYS]
        for index, (slug, pattern) in enumerate(self.rules):
            if slug in found:
                continue
            firsts = self.first_words[index] if self.first_words else frozenset()
            if firsts and not any(first in lowered for first in firsts):
                continue
            if pattern.search(body):
                found.append(slug)
        return found

    def apply(self, sections: Iterable[Section]) -> None:
        """Set every section's ``audiences`` from its heading and blocks."""
        for section in sections:
            section.audiences = self.audiences_for(section_texts(section))


def section_texts(section: Section) -> list[str]:
    """The heading and every paragraph and bullet item of ``section``."""
    texts = [section.heading] if section.heading else []
    for block in section.blocks:
        texts.extend(block.items if isinstance(block, Bullets) else [block.text])
    return texts


def rules_path() -> Path:
    """The configured rules file, or the bundled one."""
    configured = get_settings().audience_rules_path
    return Path(configured) if configured else BUNDLED_RULES


def load_rules(path: Path | None = None) -> AudienceRules:
    """Load and compile the rules at ``path`` (default: :func:`rules_path`).

    Raises AudienceRulesError naming the file and entry when it is missing,
    not TOML, or has a wrong entry.  Re-read only when the file changes.
    """
    path = path or rules_path()
    try:
        stat = path.stat()
    except OSError as exc:
        raise AudienceRulesError(path, f"cannot read rules file: {exc.strerror or exc}") from exc
    return _load(str(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=8)
def _load(path: str, _mtime_ns: int, _size: int) -> AudienceRules:
    # mtime and size are part of the cache key so an edited file is re-read.
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise AudienceRulesError(path, f"not valid TOML: {exc}") from exc
    except OSError as exc:
        raise AudienceRulesError(path, f"cannot read rules file: {exc.strerror or exc}") from exc
    return compile_rules(data, path)


def compile_rules(data: dict[str, object], path: str) -> AudienceRules:
    """Check and compile parsed TOML; raises AudienceRulesError naming the entry."""
    unknown = sorted(set(data) - {"segments"})
    if unknown:
        raise AudienceRulesError(path, f"{unknown[0]}: unknown entry (expected [segments.<slug>])")
    segments = data.get("segments")
    if not isinstance(segments, dict):
        raise AudienceRulesError(path, "segments: missing or not a table of [segments.<slug>]")
    rules: list[tuple[str, re.Pattern[str]]] = []
    first_words: list[frozenset[str]] = []
    for slug, entry in segments.items():
        where = f"segments.{slug}"
        if not _SLUG.match(slug):
            raise AudienceRulesError(
                path, f"{where}: segment names are lower-case letters, digits and hyphens"
            )
        if not isinstance(entry, dict):
            raise AudienceRulesError(path, f"{where}: must be a table with a keywords list")
        extra = sorted(set(entry) - {"keywords", "description"})
        if extra:
            raise AudienceRulesError(path, f"{where}.{extra[0]}: unknown key")
        if not isinstance(entry.get("description", ""), str):
            raise AudienceRulesError(path, f"{where}.description: must be text")
        keywords = entry.get("keywords")
        if not isinstance(keywords, list) or not keywords:
            raise AudienceRulesError(path, f"{where}.keywords: must be a non-empty list")
        alternatives = []
        firsts: set[str] = set()
        for index, keyword in enumerate(keywords):
            if not isinstance(keyword, str) or not keyword.split():
                raise AudienceRulesError(path, f"{where}.keywords[{index}]: must be non-empty text")
            alternatives.append(r"\s+".join(re.escape(word) for word in keyword.split()))
            firsts.update(_first_words(keyword))
        # Word boundaries that work for keywords starting or ending in
        # punctuation too; the optional plural suffix lets "apprentice" match
        # "apprentices".
        pattern = re.compile(rf"(?<!\w)(?:{'|'.join(alternatives)})(?:s|es)?(?!\w)", re.IGNORECASE)
        rules.append((slug, pattern))
        # One keyword without a cheap test means the rule is always searched.
        cheap = all(_first_words(k) for k in keywords)
        first_words.append(frozenset(firsts) if cheap else frozenset())
    return AudienceRules(tuple(rules), tuple(first_words))


def _first_words(keyword: str) -> set[str]:
    """The \\w+ words a match of ``keyword`` starts with (as ``_WORDS`` splits the body)."""
    words = _WORDS.findall(keyword.lower())
    if not words or not keyword.lower().startswith(words[0]):
        # A keyword starting with punctuation: no cheap test, always search.
        return set()
    return {words[0]}
