"""Known regions and the spellings titles use for them, from a file organisers can extend.

The regions live in a TOML file (the bundled ``newsletter/data/regions.toml``,
or the one ``NEWSLETTER_REGIONS_PATH`` names); its comments explain the
format.  Contract:

* :func:`load_regions` raises :class:`IngestError` naming the file and the
  entry at fault ("regions.London.spellings[1]: …");
* :meth:`Regions.find` returns the region a text names — the longest spelling
  found, as its canonical name — with where it was found, or None.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from newsletter.config import get_settings
from newsletter.ingest.errors import IngestError
from newsletter.paths import DATA_DIR

BUNDLED_REGIONS = DATA_DIR / "regions.toml"


@dataclass(frozen=True)
class RegionMatch:
    """A region named in a text: its canonical name and the span that spelt it."""

    name: str
    start: int
    end: int


@dataclass(frozen=True)
class Regions:
    """Compiled regions: one pattern of every spelling, longest first."""

    names: tuple[str, ...]
    pattern: re.Pattern[str]
    by_group: tuple[str, ...]

    def find(self, text: str) -> RegionMatch | None:
        """The region ``text`` names (longest spelling, then leftmost), or None."""
        best: RegionMatch | None = None
        for m in self.pattern.finditer(text):
            found = RegionMatch(self.by_group[_group_index(m)], m.start(), m.end())
            if best is None or (found.end - found.start) > (best.end - best.start):
                best = found
        return best

    def is_region(self, text: str) -> bool:
        """True when ``text`` is exactly a spelling of a known region."""
        found = self.find(text)
        return found is not None and found.start == 0 and found.end == len(text.strip())


def _group_index(m: re.Match[str]) -> int:
    # lastindex is the one named group that matched (the alternatives do not nest).
    return (m.lastindex or 1) - 1


def regions_path() -> Path:
    """The configured regions file, or the bundled one."""
    configured = get_settings().regions_path
    return Path(configured) if configured else BUNDLED_REGIONS


def load_regions(path: Path | None = None) -> Regions:
    """Load and compile the regions at ``path`` (default: :func:`regions_path`).

    Raises IngestError naming the file and entry; re-read only when the file changes.
    """
    path = path or regions_path()
    try:
        stat = path.stat()
    except OSError as exc:
        raise IngestError(path, f"cannot read regions file: {exc.strerror or exc}") from exc
    return _load(str(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=8)
def _load(path: str, _mtime_ns: int, _size: int) -> Regions:
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise IngestError(path, f"regions file is not valid TOML: {exc}") from exc
    except OSError as exc:
        raise IngestError(path, f"cannot read regions file: {exc.strerror or exc}") from exc
    return compile_regions(data, path)


def compile_regions(data: dict[str, object], path: str) -> Regions:
    """Check and compile parsed TOML; raises IngestError naming the entry."""
    regions = data.get("regions")
    if set(data) - {"regions"} or not isinstance(regions, dict) or not regions:
        raise IngestError(path, 'regions: expected [regions."Name"] tables and nothing else')
    spellings: list[tuple[str, str]] = []
    for name, entry in regions.items():
        where = f"regions.{name}"
        if not name.strip():
            raise IngestError(path, f"{where}: a region needs a name")
        if not isinstance(entry, dict) or set(entry) - {"spellings"}:
            raise IngestError(path, f"{where}: must be a table with a spellings list")
        listed = entry.get("spellings", [name])
        if not isinstance(listed, list) or not listed:
            raise IngestError(path, f"{where}.spellings: must be a non-empty list")
        for index, spelling in enumerate(listed):
            if not isinstance(spelling, str) or not spelling.split():
                raise IngestError(path, f"{where}.spellings[{index}]: must be non-empty text")
            spellings.append((name, spelling))
        spellings.append((name, name))
    # Longest first so that at one position "North East England" beats "North East".
    spellings.sort(key=lambda pair: -len(pair[1]))
    alternatives = [f"(?P<r{i}>{_spelling_pattern(s)})" for i, (_, s) in enumerate(spellings)]
    pattern = re.compile(rf"(?<![\w&-])(?:{'|'.join(alternatives)})(?![\w&-])")
    return Regions(
        names=tuple(regions), pattern=pattern, by_group=tuple(name for name, _ in spellings)
    )


def _spelling_pattern(spelling: str) -> str:
    words = spelling.replace("-", " ").replace("&", " and ").split()
    parts = ["(?:and|&)" if w.lower() == "and" else re.escape(w) for w in words]
    body = r"[\s\-]+".join(parts).replace(r"[\s\-]+(?:and|&)[\s\-]+", r"\s*(?:and|&)\s*")
    # Capitals ("NE") must be written in capitals; everything else ignores case.
    return body if spelling.isupper() else f"(?i:{body})"
