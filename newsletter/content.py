"""Structured content of an update: the contract between ingest, store, render
and calendar.

An :class:`Update` is what ingest produces from a text, Markdown or JSON file
and what the renderer and calendar read.  ``Update.to_json()`` gives exactly
the documented JSON shape (README, "Update JSON"); ``Update.from_json()`` reads
it back and raises :class:`ContentError` naming the field that is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from newsletter.events.event import UK_TIMEZONE, Event
from newsletter.jsonfields import ContentError
from newsletter.jsonfields import optional_str as _optional_str
from newsletter.jsonfields import require_object as _require_object
from newsletter.jsonfields import require_str as _require_str

__all__ = [
    "UK_TIMEZONE",
    "Block",
    "Bullets",
    "ContentError",
    "Event",
    "Paragraph",
    "Section",
    "Tag",
    "Update",
]


@dataclass(frozen=True)
class Paragraph:
    """A paragraph of running text."""

    text: str
    type: Literal["paragraph"] = "paragraph"


@dataclass(frozen=True)
class Bullets:
    """A bullet list; ``items`` are the items' texts without their markers."""

    items: tuple[str, ...]
    type: Literal["bullets"] = "bullets"


Block = Paragraph | Bullets


@dataclass
class Section:
    """A headed part of an update; ``heading`` is None for text before the first heading.

    ``audiences`` holds segment slugs (``dcs``, ``lead-member``, …) the section
    speaks to; every section is for ``dcs``.
    """

    heading: str | None
    blocks: list[Block]
    audiences: list[str] = field(default_factory=lambda: ["dcs"])


@dataclass(frozen=True)
class Tag:
    """A website tag with the count the site showed next to it."""

    name: str
    count: int | None


@dataclass
class Update:
    """One regional update, parsed.

    The period is a range of months: ``period`` is the first ("YYYY-MM"),
    ``period_end`` the last (equal to ``period`` for a monthly update) and
    ``period_label`` how it is shown ("Winter 2018/19"); all three are None
    when the title names no period.
    """

    title: str
    region: str | None
    period: str | None
    sections: list[Section]
    tags: list[Tag] = field(default_factory=list)
    contacts: list[str] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    id: int | None = None
    period_end: str | None = None
    period_label: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Return exactly the documented JSON object of this update."""
        return {
            "id": self.id,
            "title": self.title,
            "region": self.region,
            "period": self.period,
            "period_end": self.period_end,
            "period_label": self.period_label,
            "sections": [
                {
                    "heading": s.heading,
                    "audiences": list(s.audiences),
                    "blocks": [_block_to_json(b) for b in s.blocks],
                }
                for s in self.sections
            ],
            "tags": [{"name": t.name, "count": t.count} for t in self.tags],
            "contacts": list(self.contacts),
            "events": [e.to_json() for e in self.events],
        }

    @classmethod
    def from_json(cls, data: Any) -> Update:
        """Build an update from its JSON object; raises ContentError naming the field."""
        obj = _require_object(data, "update")
        period = _optional_str(obj, "period", "update")
        if period is not None and not _is_period(period):
            raise ContentError("update.period: expected YYYY-MM")
        period_end = _optional_str(obj, "period_end", "update")
        if period_end is not None and (
            not _is_period(period_end) or period is None or period_end < period
        ):
            raise ContentError("update.period_end: expected YYYY-MM, not before period")
        period_label = _optional_str(obj, "period_label", "update")
        sections_raw = obj.get("sections", [])
        if not isinstance(sections_raw, list):
            raise ContentError("update.sections: must be a list")
        sections = [
            _section_from_json(s, f"update.sections[{i}]") for i, s in enumerate(sections_raw)
        ]
        tags_raw = obj.get("tags", [])
        if not isinstance(tags_raw, list):
            raise ContentError("update.tags: must be a list")
        tags = []
        for i, t in enumerate(tags_raw):
            tag_obj = _require_object(t, f"update.tags[{i}]")
            count = tag_obj.get("count")
            if count is not None and not isinstance(count, int):
                raise ContentError(f"update.tags[{i}].count: must be an integer or null")
            tags.append(Tag(name=_require_str(tag_obj, "name", f"update.tags[{i}]"), count=count))
        contacts = obj.get("contacts", [])
        if not isinstance(contacts, list) or not all(isinstance(c, str) for c in contacts):
            raise ContentError("update.contacts: must be a list of strings")
        events_raw = obj.get("events", [])
        if not isinstance(events_raw, list):
            raise ContentError("update.events: must be a list")
        events = [Event.from_json(e, f"update.events[{i}]") for i, e in enumerate(events_raw)]
        update_id = obj.get("id")
        if update_id is not None and not isinstance(update_id, int):
            raise ContentError("update.id: must be an integer or null")
        return cls(
            id=update_id,
            title=_require_str(obj, "title", "update"),
            region=_optional_str(obj, "region", "update"),
            period=period,
            period_end=period_end or period,
            period_label=period_label,
            sections=sections,
            tags=tags,
            contacts=list(contacts),
            events=events,
        )


def _block_to_json(block: Block) -> dict[str, Any]:
    if isinstance(block, Paragraph):
        return {"type": "paragraph", "text": block.text}
    return {"type": "bullets", "items": list(block.items)}


def _section_from_json(data: Any, where: str) -> Section:
    obj = _require_object(data, where)
    heading = _optional_str(obj, "heading", where)
    audiences = obj.get("audiences", ["dcs"])
    if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences):
        raise ContentError(f"{where}.audiences: must be a list of strings")
    blocks_raw = obj.get("blocks", [])
    if not isinstance(blocks_raw, list):
        raise ContentError(f"{where}.blocks: must be a list")
    blocks: list[Block] = []
    for i, raw in enumerate(blocks_raw):
        block_where = f"{where}.blocks[{i}]"
        block = _require_object(raw, block_where)
        kind = block.get("type")
        if kind == "paragraph":
            blocks.append(Paragraph(text=_require_str(block, "text", block_where)))
        elif kind == "bullets":
            items = block.get("items")
            if not isinstance(items, list) or not all(isinstance(x, str) for x in items):
                raise ContentError(f"{block_where}.items: must be a list of strings")
            blocks.append(Bullets(items=tuple(items)))
        else:
            raise ContentError(f"{block_where}.type: expected 'paragraph' or 'bullets'")
    if "dcs" not in audiences:
        audiences = ["dcs", *audiences]
    return Section(heading=heading, blocks=blocks, audiences=list(audiences))


def _is_period(text: str) -> bool:
    return (
        len(text) == 7
        and text[4] == "-"
        and text[:4].isdigit()
        and text[5:].isdigit()
        and 1 <= int(text[5:]) <= 12
    )
