"""Fields right per document over the corpus of family updates in tests/data/updates.

``expected.json`` gives, per file, what an organiser reading the update would
store: region, period range, tag names, phrases the body must (``contains``)
or must not (``absent``) carry, and each event (start, end, venue, a phrase
its title must name, and ``needs_title`` when the update does not name it).
Optionally also the section headings in order (``headings``, the untitled
opening section left out), list items that must each be one bullet item,
marker stripped (``items``), and the contact addresses in order
(``contacts``).  :func:`score` counts the fields ingest got right.

Run ``python tests/ingest_accuracy.py`` to print the README table.  It only
needs ``newsletter.ingest.parse_file`` and ``Update.to_json``, so it can also
measure an older checkout (``PYTHONPATH=/path/to/checkout``); a file that
checkout refuses scores zero.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).resolve().parent / "data" / "updates"
#: Most words an event title may have and still be "a short noun phrase".
MAX_TITLE_WORDS = 8


@dataclass
class Score:
    """Fields right out of fields checked for one document, and what was wrong."""

    name: str
    right: int = 0
    total: int = 0
    misses: list[str] = field(default_factory=list)

    def check(self, what: str, ok: bool, got: object = None) -> None:
        self.total += 1
        if ok:
            self.right += 1
        else:
            self.misses.append(f"{what} (got {got!r})")

    @property
    def accuracy(self) -> float:
        return self.right / self.total if self.total else 1.0


def expected_corpus() -> dict[str, dict[str, Any]]:
    """The expected fields of every corpus file, by file name."""
    data: dict[str, dict[str, Any]] = json.loads((CORPUS / "expected.json").read_text("utf-8"))
    return data


def fields_total(expected: dict[str, Any]) -> int:
    """How many fields :func:`score` checks for ``expected``."""
    return (
        4
        + ("headings" in expected)
        + len(expected.get("items", []))
        + ("contacts" in expected)
        + len(expected.get("contains", []))
        + len(expected.get("absent", []))
        + 4 * len(expected["events"])
        + 1
    )


def score(name: str, data: dict[str, Any] | None, expected: dict[str, Any]) -> Score:
    """Score an update's JSON (None when ingest refused the file) against ``expected``."""
    result = Score(name)
    if data is None:
        result.total = fields_total(expected)
        result.misses.append("file refused")
        return result
    result.check("region", data.get("region") == expected["region"], data.get("region"))
    result.check("period", data.get("period") == expected["period"], data.get("period"))
    period_end = data.get("period_end", data.get("period"))
    result.check("period_end", period_end == expected["period_end"], period_end)
    tags = [t["name"] for t in data.get("tags", [])]
    result.check("tags", tags == expected["tags"], tags)
    if "headings" in expected:
        headings = [s["heading"] for s in data.get("sections", []) if s.get("heading")]
        result.check("headings", headings == expected["headings"], headings)
    items = {
        item
        for section in data.get("sections", [])
        for block in section.get("blocks", [])
        for item in block.get("items", [])
    }
    for item in expected.get("items", []):
        result.check(f"item {item!r}", item in items, None)
    if "contacts" in expected:
        contacts = data.get("contacts", [])
        result.check("contacts", contacts == expected["contacts"], contacts)
    body = "\n".join(_texts(data))
    for phrase in expected.get("contains", []):
        result.check(f"body has {phrase!r}", phrase in body, None)
    for phrase in expected.get("absent", []):
        result.check(f"body lacks {phrase!r}", phrase not in body, None)
    events = list(data.get("events", []))
    for want in expected["events"]:
        got = _take_event(events, want)
        label = f"event {want['start']}"
        result.check(f"{label} start", got is not None, None)
        if got is None:
            result.total += 3
            result.misses.append(f"{label}: end, location, title not checked")
            continue
        end = _short(got["end"], got["all_day"]) if got.get("end") else None
        result.check(f"{label} end", end == want["end"], end)
        result.check(f"{label} location", got.get("location") == want["location"], got["location"])
        title = str(got.get("title", ""))
        # A featured event the update does not name gets a made-up title that
        # says so (``needs_title``); the word limit is for titles read from text.
        needs_title = bool(want.get("needs_title", False))
        good_title = (
            want["title_has"].lower() in title.lower()
            and (needs_title or len(title.split()) <= MAX_TITLE_WORDS)
            and bool(got.get("needs_title", False)) == needs_title
            and bool(got.get("featured", False)) == bool(want.get("featured", False))
        )
        result.check(f"{label} title", good_title, title)
    extra = [f"{e['start']} {e['title']}" for e in events]
    result.check("no other events", not extra, extra)
    return result


def _texts(data: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for section in data.get("sections", []):
        if section.get("heading"):
            out.append(section["heading"])
        for block in section.get("blocks", []):
            out.extend(block.get("items", [block.get("text", "")]))
    return out


def _short(stamp: str, all_day: bool) -> str:
    """ "2019-05-22T09:30" (or "2019-05-22" all-day) of an ISO date-time."""
    return stamp[:10] if all_day else stamp[:16]


def _take_event(events: list[dict[str, Any]], want: dict[str, Any]) -> dict[str, Any] | None:
    """Remove and return the event starting as ``want`` says, or None."""
    for index, event in enumerate(events):
        if _short(event["start"], bool(event.get("all_day"))) == want["start"]:
            return events.pop(index)
    return None


def run() -> list[Score]:
    """Parse every corpus file with the installed ingest and score it."""
    from newsletter.ingest import IngestError, parse_file

    scores = []
    for name, expected in expected_corpus().items():
        try:
            data: dict[str, Any] | None = parse_file(CORPUS / name).update.to_json()
        except IngestError:
            data = None
        scores.append(score(name, data, expected))
    return scores


def table(scores: list[Score]) -> str:
    """The README's accuracy table (Markdown)."""
    lines = ["| Update | Fields right | Accuracy |", "|---|---:|---:|"]
    for s in scores:
        lines.append(f"| `{s.name}` | {s.right}/{s.total} | {s.accuracy:.0%} |")
    right, total = sum(s.right for s in scores), sum(s.total for s in scores)
    mean = sum(s.accuracy for s in scores) / len(scores)
    lines.append(f"| **all {len(scores)}** | **{right}/{total}** | **{mean:.0%}** (mean per doc) |")
    return "\n".join(lines)


if __name__ == "__main__":
    results = run()
    print(table(results))
    if "-v" in sys.argv:
        for s in results:
            for miss in s.misses:
                print(f"{s.name}: {miss}")
