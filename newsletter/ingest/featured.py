"""Featured events: the site's "Featured Event" block, and the ones organisers write by hand.

Contract: :func:`featured_label` says whether a line is the block's label
(and what follows it on that line); :func:`featured_block` reads the block
that starts there — its lines, and its event or, for a block without a
date, its name; :func:`merge_featured` gives each featured event a title,
merging in a prose event of the same occasion.  The text family reads the
block from the file's lines, the Markdown reader from a paragraph's lines
or the paragraph after a "Featured event" heading.

The date line is the site's stamp ("Wed, 14 Nov 18 10:00" is 2018-11-14
10:00 UK time) or one an organiser wrote ("Tuesday 3rd March 2020,
10:00–12:30", "3/3/2020 at 2pm", "10am to 1pm on 12 March", with a place in
brackets: "(online)"), on the label's line ("Featured event: …") or after
it.  On the label's line the name, date and place may also be parts joined
by spaced dashes or bars ("FEATURED EVENT – Regional fostering conference –
Wednesday 2 March 2022, 09:30 to 15:00 – Amex Stadium, Brighton", "Featured
event | Lead Member briefing | 2/3/2020 at 2pm | Online"), or on labelled
lines ("Date: …", "Time: …", "Venue: …", "Title: …"; also "When:", "Where:",
"Location:", "Event:").  The
title is a short line (or part) beside the date when there is one, the next
is its place; else the title of an event the text mentions on the same day
(the two are merged); else one made from the update ("North East Region
Update: featured event, 14 November 2018"), marked ``needs_title`` with a
warning so an organiser names it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from newsletter.content import UK_TIMEZONE, Event
from newsletter.events.event import placeholder_title
from newsletter.ingest.dates import TIME_RE, long_date, parse_featured
from newsletter.ingest.events import YearHints, read_stamp
from newsletter.ingest.tags import TAGS_LABEL

FEATURED_LABEL = re.compile(r"(?i)^featured\s+events?(?:\s*(?::|-|–|—|\|)\s*(?P<rest>.*))?$")
#: Longest text after "Featured event:" on its line that is still the event's
#: date or name (or, for parts joined by dashes, each part); a longer one is
#: body text that happens to start so.
_MAX_INLINE_FEATURED = 80
_MAX_INLINE_PARTS_CHARS = 200
# Parts of a one-line block: "Name – date – place", "Name | date | place".
_PART_SEPARATOR = re.compile(r"\s+[–—|-]\s+")
# Lines after a "Featured Event" label that may still belong to its block.
_FEATURED_SPAN = 5
# A block written as labelled lines: "Date: Thursday 18 May 2023", "Time:
# 10:00 – 15:30", "Venue: Amex Stadium, Brighton", "Title: …".
_FIELD_RE = re.compile(
    r"(?i)^(?P<label>title|event|name|what|date|when|day|times?|venue|where|location|place)"
    r"\s*:\s*(?P<value>\S.*)$"
)
_FIELD_KINDS = {
    **dict.fromkeys(("title", "event", "name", "what"), "title"),
    **dict.fromkeys(("date", "when", "day"), "date"),
    **dict.fromkeys(("time", "times"), "time"),
    **dict.fromkeys(("venue", "where", "location", "place"), "place"),
}

Stamp = tuple[datetime, datetime | None, bool, str | None]


def featured_label(line: str) -> str | None:
    """What follows a "Featured Event" label on its line ("" for none); None if no label."""
    m = FEATURED_LABEL.match(line)
    if m is None:
        return None
    rest = (m.group("rest") or "").strip()
    if rest.endswith("."):
        return None
    if len(rest) <= _MAX_INLINE_FEATURED:
        return rest
    if len(rest) > _MAX_INLINE_PARTS_CHARS:
        return None
    parts = _PART_SEPARATOR.split(rest)
    fits = all(len(part) <= _MAX_INLINE_FEATURED for part in parts)
    return rest if len(parts) > 1 and fits else None


def featured_block(
    lines: Sequence[str],
    label_at: int,
    end: int,
    title_at: int,
    hints: YearHints,
    warnings: list[str],
) -> tuple[set[int], Event | None, str | None]:
    """Line indexes of the featured block at ``label_at``, its event, and its title if undated.

    The block is the label (the date or name may follow it on its line:
    "Featured event: 3/3/2020 at 2pm"), the date line, and up to two short
    lines (the name, then the place).  Before the title everything up to it
    is the site's widget; after the title the block ends at the first blank
    line after its date, so that a section heading after it is not swallowed.
    """
    used = {label_at}
    others: list[str] = []
    stamp: tuple[int, Stamp] | None = None
    inline = featured_label(lines[label_at]) or ""
    if inline:
        parsed = _stamp(inline, hints, warnings)
        if parsed is not None:
            stamp = (label_at, parsed)
        else:
            stamp, others = _parts(inline, label_at, hints, warnings)
    window = range(label_at + 1, min(end, label_at + 1 + _FEATURED_SPAN * 2))
    stop = window.stop
    fields: dict[str, str] = {}
    for index in window:
        line = lines[index]
        if index == title_at or featured_label(line) is not None or TAGS_LABEL.match(line):
            stop = index
            break
        if not line:
            if stamp is not None and title_at < label_at:
                stop = index
                break
            continue
        field = _FIELD_RE.match(line)
        if field is not None and _FIELD_KINDS[field.group("label").lower()] not in fields:
            kind = _FIELD_KINDS[field.group("label").lower()]
            fields[kind] = field.group("value").strip()
            used.add(index)
            from_fields = stamp is None or stamp[0] > label_at
            if kind in ("date", "time") and "date" in fields and from_fields:
                when = ", ".join(fields[k] for k in ("date", "time") if k in fields)
                parsed = _stamp(when, hints, warnings)
                if parsed is not None:
                    stamp = (index, parsed)
            continue
        if stamp is None:
            parsed = _stamp(line, hints, warnings)
            if parsed is not None:
                stamp = (index, parsed)
                used.add(index)
                continue
        if len(line) > 80 or line.endswith(".") or len(others) >= 2:
            stop = index
            break
        others.append(line)
        used.add(index)
    if stamp is None:
        # An undated block: its short lines are its title (and place) unless
        # body text follows them directly, which makes the first a heading.
        following = next((line for line in lines[stop:end] if line), "")
        last_line = max(used)
        if last_line != label_at and title_at < label_at and following and _is_body(following):
            # The last short line heads the body that follows it.
            others.pop()
            used.discard(last_line)
        if not others:
            return {label_at}, None, None
        return used, None, others[0]
    start, end_time, all_day, place = stamp[1]
    if "title" in fields:
        others.insert(0, fields["title"])
    if "place" in fields:
        others[1:] = []
        place = fields["place"]
    return (
        used,
        Event(
            title=others[0] if others else "Featured event",
            start=start,
            end=end_time,
            all_day=all_day,
            timezone=UK_TIMEZONE,
            location=others[1] if len(others) > 1 and "place" not in fields else place,
            featured=True,
            source="\n".join([inline, *(lines[i] for i in sorted(used - {label_at}))]).strip(),
            needs_title=not others,
        ),
        None,
    )


def _parts(
    inline: str, label_at: int, hints: YearHints, warnings: list[str]
) -> tuple[tuple[int, Stamp] | None, list[str]]:
    """The stamp and the other parts of a one-line block ("Name – date – place").

    A part that is only a time after the date's part is its end, cut off by
    the dash that joins the times ("2 March 2022, 09:30 – 15:00").
    """
    parts = _PART_SEPARATOR.split(inline)
    stamp: tuple[int, Stamp] | None = None
    others: list[str] = []
    index = 0
    while index < len(parts):
        part = parts[index]
        noticed: list[str] = []
        parsed = None if stamp is not None else _stamp(part, hints, noticed)
        if parsed is None:
            others.append(part)
            index += 1
            continue
        index += 1
        if index < len(parts) and TIME_RE.fullmatch(parts[index]):
            noticed_joined: list[str] = []
            joined = _stamp(f"{part} – {parts[index]}", hints, noticed_joined)
            if joined is not None:
                parsed, noticed = joined, noticed_joined
                index += 1
        warnings.extend(noticed)
        stamp = (label_at, parsed)
    return stamp, others


# An update features one event, sometimes a few: past this many, the rest of a
# pasted or hostile file is not made into events (each would be an invitation
# attached to every message), as prose dates stop at ``events.MAX_DATES``.
MAX_FEATURED = 50


def merge_featured(
    featured: list[tuple[int, Event]], prose: list[Event], region: str | None, warnings: list[str]
) -> list[Event]:
    """Featured events with a title each; a prose event of the same occasion merges in.

    ``featured`` pairs each event with the line its block starts on (for the
    warning); a merged prose event is removed from ``prose``.
    """
    if len(featured) > MAX_FEATURED:
        warnings.append(
            f"line {featured[MAX_FEATURED][0] + 1}: more than {MAX_FEATURED} featured events;"
            f" only the first {MAX_FEATURED} are kept"
        )
        featured = featured[:MAX_FEATURED]
    out: list[Event] = []
    for line_at, event in featured:
        same = next((p for p in prose if _same_occasion(event, p)), None)
        if same is not None:
            prose.remove(same)
            if event.needs_title:
                event.title = same.title
                event.needs_title = False
            event.location = event.location or same.location
            if event.all_day and not same.all_day:
                event.start, event.end, event.all_day = same.start, same.end, False
        if event.needs_title:
            on = long_date(event.start.date())
            event.title = placeholder_title(region, event.start.date())
            warnings.append(
                f"line {line_at + 1}: the featured event on {on} needs a title (the site"
                f" printed none): called {event.title!r} until an organiser names it"
            )
        out.append(event)
    return out


def _same_occasion(featured: Event, prose: Event) -> bool:
    if featured.start.date() != prose.start.date():
        return False
    return featured.all_day or prose.all_day or featured.start == prose.start


def _stamp(line: str, hints: YearHints, warnings: list[str]) -> Stamp | None:
    """A featured event's date line: one an organiser wrote, or the site's stamp.

    The organiser's form is tried first: it keeps a place written beside the
    times ("13:00 – 15:30 (online)"), which the site's stamp has no room for.
    """
    written = read_stamp(line, hints, warnings)
    if written is not None:
        return written
    website = parse_featured(line)
    return None if website is None else (*website, None)


def _is_body(line: str) -> bool:
    return len(line) > 80 or line.endswith((".", ":", "!", "?"))
