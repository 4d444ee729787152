"""Organiser corrections of what ingest understood, without re-ingesting.

An organiser may correct a stored update's title, region and period, and the
audiences of each of its sections (events have their own corrections in
:mod:`newsletter.events.changes`).  Contract:

* a correction changes the stored update in place, so every later render,
  preview, send and archive page uses it — nothing re-reads the source file,
  and event UIDs stay as they are;
* each changed field is written to the update's history
  (:class:`~newsletter.models.UpdateCorrection`: field, before, after, who,
  when); a "correction" that changes nothing records nothing;
* bad input raises :class:`CorrectionError` naming the field, and nothing
  is changed; an unknown update raises
  :class:`~newsletter.updates.UpdateNotFoundError`.

Section audiences are segment names; ``dcs`` is always kept (every section
is for directors), first, then the others in the order given.  A period is
given as "YYYY-MM" or as a title would write it ("Spring 2019", "Quarter 2
2019/20", "December 2018 – January 2019"); "none" clears it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.errors import UserError
from newsletter.ingest.periods import Period, find_period, label_of
from newsletter.ingest.regions import load_regions
from newsletter.models import UpdateCorrection, UpdateRecord
from newsletter.segments import list_all
from newsletter.updates import get_record

ALWAYS = "dcs"
_YYYY_MM = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_MAX_TITLE = 300


class CorrectionError(UserError, ValueError):
    """A correction that cannot be applied; the message names the field."""


@dataclass(frozen=True)
class Change:
    """One field changed by a correction, as recorded in the history."""

    field: str
    before: str
    after: str


def section_audiences(
    session: Session, update_id: int, section: int, audiences: Sequence[str], actor: str
) -> Change | None:
    """Set the audiences of section ``section`` (1 = the first) of the update.

    Returns the change recorded, or None when the audiences were already so.
    """
    record = get_record(session, update_id)
    sections = list(record.content.get("sections", []))
    if not 1 <= section <= len(sections):
        raise CorrectionError(
            f"section: update {update_id} has sections 1 to {len(sections)}, not {section}"
        )
    known = [s.name for s in list_all(session)]
    wanted = [ALWAYS]
    for name in (a.strip() for a in audiences):
        if not name:
            continue
        if name not in known:
            raise CorrectionError(
                f"audiences: there is no segment {name!r} (segments: {', '.join(known)})"
            )
        if name not in wanted:
            wanted.append(name)
    entry = dict(sections[section - 1])
    before = list(entry.get("audiences", [ALWAYS]))
    if before == wanted:
        return None
    entry["audiences"] = wanted
    sections[section - 1] = entry
    # A new dict: the JSON column only notices assignment, not mutation.
    record.content = {**record.content, "sections": sections}
    heading = entry.get("heading") or "(introduction)"
    change = Change(
        f"section {section} audiences ({heading})", ", ".join(before), ", ".join(wanted)
    )
    _record(session, record, change, actor)
    return change


def correct_update(
    session: Session,
    update_id: int,
    *,
    actor: str,
    title: str | None = None,
    region: str | None = None,
    period: str | None = None,
) -> list[Change]:
    """Correct the update's title, region and/or period (None leaves a field alone)."""
    record = get_record(session, update_id)
    changes: list[Change] = []
    if title is not None:
        cleaned = " ".join(title.split())
        if not cleaned:
            raise CorrectionError("title: a title cannot be empty")
        if len(cleaned) > _MAX_TITLE:
            raise CorrectionError(f"title: at most {_MAX_TITLE} characters")
        if cleaned != record.title:
            changes.append(Change("title", record.title, cleaned))
            record.title = cleaned
    if region is not None:
        new_region = _region(region)
        if new_region != record.region:
            changes.append(Change("region", record.region or "", new_region or ""))
            record.region = new_region
    if period is not None:
        new = _period(period)
        old_label = _shown(record)
        record.period = new.start if new else None
        record.period_end = new.end if new else None
        record.period_label = new.label if new else None
        if _shown(record) != old_label:
            changes.append(Change("period", old_label, _shown(record)))
    for change in changes:
        _record(session, record, change, actor)
    return changes


def history(session: Session, update_id: int) -> list[UpdateCorrection]:
    """The update's corrections, oldest first; raises UpdateNotFoundError."""
    get_record(session, update_id)
    return list(
        session.scalars(
            select(UpdateCorrection)
            .where(UpdateCorrection.update_id == update_id)
            .order_by(UpdateCorrection.id)
        )
    )


def _record(session: Session, record: UpdateRecord, change: Change, actor: str) -> None:
    session.add(
        UpdateCorrection(
            update_id=record.id,
            field=change.field,
            before=change.before,
            after=change.after,
            actor=actor,
        )
    )
    session.flush()


def _region(text: str) -> str | None:
    cleaned = " ".join(text.split())
    if not cleaned or cleaned.lower() == "none":
        return None
    if len(cleaned) > 200:
        raise CorrectionError("region: at most 200 characters")
    # A known spelling is stored under its region's name; anything else as written.
    found = load_regions().find(cleaned)
    if found is not None and found.start == 0 and found.end == len(cleaned):
        return found.name
    return cleaned


def _period(text: str) -> Period | None:
    cleaned = " ".join(text.split())
    if cleaned.lower() == "none":
        return None
    m = _YYYY_MM.match(cleaned)
    if m is not None:
        return Period(cleaned, cleaned, label_of(cleaned, cleaned), "month")
    found = find_period(cleaned)
    if found is None or found[1] != (0, len(cleaned)):
        raise CorrectionError(
            f"period: cannot read {text!r}; write it as 2019-05, 'May 2019', 'Spring 2019',"
            " 'Quarter 2 2019/20' or 'December 2018 – January 2019' (or 'none')"
        )
    return found[0]


def _shown(record: UpdateRecord) -> str:
    if record.period is None:
        return ""
    return record.period_label or label_of(record.period, record.period_end or record.period)
