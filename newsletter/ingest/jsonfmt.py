"""JSON updates of the documented shape (README, "Update JSON").

Contract of :func:`parse_json`: returns the Update read by
:meth:`Update.from_json`, or raises :class:`IngestError` whose reason names
the field at fault ("update.events[0].start: …") or the position of a syntax
error.  Sections that carry no ``audiences`` key get theirs from the rules;
sections that do keep them (``dcs`` is still added first by the contract).
"""

from __future__ import annotations

import json
from typing import Any

from newsletter.content import ContentError, Update
from newsletter.ingest.audiences import AudienceRules, section_texts
from newsletter.ingest.errors import IngestError


def parse_json(text: str, source_name: str, rules: AudienceRules) -> tuple[Update, list[str]]:
    """Parse a JSON update; raises IngestError naming the field or syntax error."""
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise IngestError(
            source_name, f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    except RecursionError as exc:
        raise IngestError(source_name, "not valid JSON: nested too deeply") from exc
    try:
        update = Update.from_json(data)
    except ContentError as exc:
        raise IngestError(source_name, str(exc)) from exc
    except (TypeError, ValueError, OverflowError) as exc:
        # from_json checks shapes; values it passes on (dates, numbers) can
        # still be out of range, e.g. year 0 or an offset of 25 hours.
        raise IngestError(source_name, f"invalid value: {exc}") from exc
    raw_sections = data.get("sections") if isinstance(data, dict) else None
    for index, section in enumerate(update.sections):
        raw = raw_sections[index] if isinstance(raw_sections, list) else None
        if isinstance(raw, dict) and "audiences" not in raw:
            section.audiences = rules.audiences_for(section_texts(section))
    return update, []
