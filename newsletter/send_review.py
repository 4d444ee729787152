"""The review an organiser confirms before a send is created, started or re-timed.

A review shows what will go out and to whom: the update, each segment's
edition with its subject and how many active subscribers get it (someone in
several segments counts once, for the first listed, as planning does), the
total, and when, in UK time.  The console shows it as a page with a confirm
button, the CLI prints it and asks (``--yes`` for scripts), the API answers
it from ``POST /api/v1/sends/review``.

Times in the past are refused here, with the time as the organiser wrote it
and in UK time, so a mistyped year never sends at once.  A minute of grace
covers the time it takes to fill in the form.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from newsletter import segments as segment_store
from newsletter.display import plural, uk_time
from newsletter.errors import UserError
from newsletter.models import utcnow
from newsletter.render import check_content, render_subject
from newsletter.updates import get_record, load_update

# A time up to this far in the past still means "now" (the form took a while).
GRACE = timedelta(minutes=1)
# Test copies go to at most this many addresses at a time.
MAX_TEST_ADDRESSES = 20


@dataclass(frozen=True)
class EditionReview:
    """One segment's part of a send: its edition's subject and its recipients."""

    segment: str
    label: str
    description: str
    subject: str
    recipients: int


@dataclass(frozen=True)
class SendReview:
    """What a send will do, for a person to confirm."""

    update_id: int
    title: str
    editions: list[EditionReview]
    at: datetime | None  # None: now

    @property
    def total(self) -> int:
        """Recipients over all editions (each person once)."""
        return sum(e.recipients for e in self.editions)

    @property
    def when(self) -> str:
        """When, for people: "now" or "Wed 20 Oct 2027, 09:00 UK"."""
        return "now" if self.at is None else uk_time(self.at)

    def summary(self) -> str:
        """One line: "North East Update to 12 recipients (3 editions), now"."""
        return (
            f"{self.title} to {plural(self.total, 'recipient')} "
            f"({plural(len(self.editions), 'edition')}), {self.when}"
        )

    def to_json(self) -> dict[str, Any]:
        """The documented JSON of a review."""
        return {
            "update_id": self.update_id,
            "title": self.title,
            "at": self.at.isoformat() if self.at else None,
            "when": self.when,
            "total": self.total,
            "editions": [
                {
                    "segment": e.segment,
                    "label": e.label,
                    "description": e.description,
                    "subject": e.subject,
                    "recipients": e.recipients,
                }
                for e in self.editions
            ],
        }


def check_time(at: datetime | None, *, now: datetime | None = None) -> datetime | None:
    """``at`` if it is not in the past (None stays None: now); raises UserError otherwise."""
    if at is None:
        return None
    current = now or utcnow()
    if at < current - GRACE:
        raise UserError(
            f"time: {uk_time(at)} has already passed; choose a later time, "
            "or leave the time empty to send now"
        )
    return at


def review(
    session: Session,
    update_id: int,
    segments: list[str],
    *,
    at: datetime | None = None,
    subject: str | None = None,
) -> SendReview:
    """Review a send of ``update_id`` to ``segments`` at ``at`` (None: now).

    Raises UserError (or a subclass) for an unknown update or segment, no
    segment, a subject with a line break, or a time in the past.
    """
    record = get_record(session, update_id)
    if not segments:
        raise UserError("segments: choose at least one segment")
    if subject is not None and ("\r" in subject or "\n" in subject):
        raise UserError("subject: must be one line")
    check_time(at)
    update = load_update(session, update_id)
    check_content(update)
    chosen = [segment_store.get(session, name) for name in dict.fromkeys(segments)]
    counts = segment_store.count_first_matches(session, [segment.rule for segment in chosen])
    editions: list[EditionReview] = []
    for segment, recipients in zip(chosen, counts, strict=True):
        label = segment_store.display_name(segment)
        editions.append(
            EditionReview(
                segment=segment.name,
                label=label,
                description=segment.description,
                subject=render_subject(update, segment.name, segment_name=label, subject=subject),
                recipients=recipients,
            )
        )
    return SendReview(update_id=update_id, title=record.title, editions=editions, at=at)


def test_addresses(text: str | list[str]) -> list[str]:
    """The addresses of a "send a test" list: commas, semicolons, spaces or lines apart.

    Raises UserError for an empty list, a bad address (named) or too many.
    """
    from newsletter.subscribers import SubscriberError, normalise_email

    raw = text if isinstance(text, list) else [text]
    pieces = [p for item in raw for p in item.replace(";", ",").replace("\n", ",").split(",")]
    found: list[str] = []
    for piece in (p.strip() for p in pieces):
        if not piece:
            continue
        for word in piece.split():
            try:
                address, _ = normalise_email(word)
            except SubscriberError as exc:
                raise UserError(f"test addresses: {exc.reason}") from exc
            if address not in found:
                found.append(address)
    if not found:
        raise UserError("test addresses: give at least one address")
    if len(found) > MAX_TEST_ADDRESSES:
        raise UserError(f"test addresses: at most {MAX_TEST_ADDRESSES} at a time")
    return found
