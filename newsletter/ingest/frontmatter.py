"""YAML front matter of Markdown updates: split, load and check it.

Contract: :func:`split_front_matter` separates a leading ``---`` … ``---``
(or ``...``) block from the body; :func:`read_front_matter` returns the
checked fields, raising :class:`IngestError` naming the field at fault
("front matter: events[0].start: …").  Accepted keys: ``title``, ``region``,
``period`` (YYYY-MM), ``tags`` (names or {name, count}), ``contacts``, and
``events``: a list of {title, start, end, location, all_day, featured, url}.
A start or end may be an ISO date-time, an ISO date (all-day), or the site's
style ("14 November 2019 10:00"); without an offset it is UK time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import yaml

from newsletter.content import Event, Tag
from newsletter.ingest.dates import UK, local, parse_featured
from newsletter.ingest.errors import IngestError

_FENCE = re.compile(
    r"\A\ufeff?[ \t]*---[ \t]*\r?\n(?P<yaml>.*?)^[ \t]*(?:---|\.\.\.)[ \t]*$\r?\n?",
    re.DOTALL | re.MULTILINE,
)
_PERIOD = re.compile(r"^\d{4}-(?:0[1-9]|1[0-2])$")
KNOWN_KEYS = frozenset(("title", "region", "period", "tags", "contacts", "events"))


@dataclass
class FrontMatter:
    """Checked front-matter fields; None/empty when absent."""

    title: str | None = None
    region: str | None = None
    period: str | None = None
    tags: list[Tag] = field(default_factory=list)
    contacts: list[str] = field(default_factory=list)
    events: list[Event] | None = None


def split_front_matter(text: str) -> tuple[str | None, str]:
    """(front matter YAML or None, body)."""
    m = _FENCE.match(text)
    if m is None:
        return None, text
    return m.group("yaml"), text[m.end() :]


def read_front_matter(source: str, name: str, warnings: list[str]) -> FrontMatter:
    """Load and check front matter; raises IngestError naming the field."""
    try:
        data = yaml.safe_load(source)
    except yaml.YAMLError as exc:
        raise IngestError(name, f"front matter: not valid YAML: {exc}") from exc
    except RecursionError as exc:
        raise IngestError(name, "front matter: nested too deeply") from exc
    if data is None:
        return FrontMatter()
    if not isinstance(data, dict):
        raise IngestError(name, "front matter: expected 'key: value' lines")
    for key in sorted(set(map(str, data)) - KNOWN_KEYS):
        warnings.append(f"front matter: unknown key {key!r} ignored")
    fm = FrontMatter(
        title=_text(data, "title", name),
        region=_text(data, "region", name),
        period=_period(data.get("period"), name),
        tags=_tags(data.get("tags"), name),
        contacts=_contacts(data.get("contacts"), name),
    )
    if "events" in data:
        raw = data["events"] or []
        if not isinstance(raw, list):
            raise IngestError(name, "front matter: events: must be a list")
        fm.events = [_event(item, f"events[{i}]", name) for i, item in enumerate(raw)]
    return fm


def _text(data: dict[Any, Any], key: str, name: str, where: str = "") -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise IngestError(name, f"front matter: {where}{key}: must be text")
    return str(value).strip() or None


def _period(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, date):
        return f"{value.year:04d}-{value.month:02d}"
    if not isinstance(value, str) or not _PERIOD.match(value.strip()):
        raise IngestError(name, "front matter: period: expected YYYY-MM")
    return value.strip()


def _tags(value: Any, name: str) -> list[Tag]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise IngestError(name, "front matter: tags: must be a list")
    tags: list[Tag] = []
    for i, item in enumerate(value):
        if isinstance(item, str) and item.strip():
            tags.append(Tag(item.strip(), None))
        elif isinstance(item, dict) and isinstance(item.get("name"), str):
            count = item.get("count")
            if count is not None and (not isinstance(count, int) or isinstance(count, bool)):
                raise IngestError(name, f"front matter: tags[{i}].count: must be a whole number")
            tags.append(Tag(item["name"], count))
        else:
            raise IngestError(name, f"front matter: tags[{i}]: expected a name or {{name, count}}")
    return tags


def _contacts(value: Any, name: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise IngestError(name, "front matter: contacts: must be a list of email addresses")
    return [v.strip() for v in value if v.strip()]


def _event(item: Any, where: str, name: str) -> Event:
    if not isinstance(item, dict):
        raise IngestError(name, f"front matter: {where}: expected title, start, …")
    title = _text(item, "title", name, f"{where}.")
    if title is None:
        raise IngestError(name, f"front matter: {where}.title: required")
    if item.get("start") is None:
        raise IngestError(name, f"front matter: {where}.start: required")
    start, start_is_date = _moment(item["start"], f"{where}.start", name)
    end = None
    if item.get("end") is not None:
        end, _ = _moment(item["end"], f"{where}.end", name)
        if end < start:
            raise IngestError(name, f"front matter: {where}.end: ends before it starts")
    flags = {}
    for key, default in (("all_day", start_is_date), ("featured", False)):
        value = item.get(key, default)
        if not isinstance(value, bool):
            raise IngestError(name, f"front matter: {where}.{key}: must be true or false")
        flags[key] = value
    return Event(
        title=title,
        start=start,
        end=end,
        all_day=flags["all_day"],
        location=_text(item, "location", name, f"{where}."),
        featured=flags["featured"],
        url=_text(item, "url", name, f"{where}."),
        source=f"front matter {where}",
    )


def _moment(value: Any, where: str, name: str) -> tuple[datetime, bool]:
    """An aware datetime and whether only a date was given."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UK)), False
    if isinstance(value, date):
        return local(value), True
    if isinstance(value, str):
        text = value.strip()
        try:
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
                return local(date.fromisoformat(text)), True
            parsed = datetime.fromisoformat(text)
            return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UK)), False
        except ValueError:
            pass
        featured = parse_featured(text)
        if featured is not None:
            return featured[0], featured[2]
    raise IngestError(name, f"front matter: {where}: not a date or date-time: {value!r}")
