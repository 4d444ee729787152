"""Who got a send and who did not, and why: the per-send delivery report.

Every recipient of a send is listed with what became of their message:

- ``sent``; ``failed`` (refused for good, or given up after the last try);
  ``skipped`` (unsubscribed, suppressed or erased before it was their turn,
  or the send was cancelled); ``retrying`` (a temporary refusal, tried again
  later); ``waiting`` (not tried yet);
- and, for a message that was sent, what was reported afterwards:
  ``bounced`` (a bounce report named the delivery), ``complained`` (they
  marked it as spam), ``unsubscribed`` (through this very email's link).

Each row carries the reason in plain words ("mailbox full", "gave up after 5
tries (server busy, try later)", "suppressed before sending") and the raw
text the mail server answered, with the number of tries and the times.
The console pages it (``/console/sends/{id}/recipients``), the CLI prints it
(``newsletter sends recipients``), the API and CSV export serve it.

A send's progress as the console's live page and the API show it (its
status and counts with a timeline of messages sent and failed) is
:func:`progress`.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from sqlalchemy import Select, and_, case, exists, func, literal, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from newsletter import display, sends
from newsletter.bounces.models import BounceEvent
from newsletter.errors import UserError
from newsletter.models import Delivery, StatusChange, Subscriber
from newsletter.subscriber_csv import neutralise

# The report's statuses, in the order filters offer them; "not_delivered" is a
# filter only (failed, skipped and bounced: everyone whom the email did not reach).
STATUSES = (
    "sent",
    "failed",
    "skipped",
    "retrying",
    "waiting",
    "bounced",
    "complained",
    "unsubscribed",
)
FILTERS = (*STATUSES, "not_delivered")
NOT_DELIVERED = ("failed", "skipped", "bounced")
PAGE_SIZE = 50

# Enhanced status codes (RFC 3463) and basic reply codes (RFC 5321) in words.
_ENHANCED = (
    ("5.1.1", "address does not exist"),
    ("5.1.2", "no such mail domain"),
    ("5.1.10", "address does not exist"),
    ("5.2.1", "mailbox disabled"),
    ("5.2.2", "mailbox full"),
    ("4.2.2", "mailbox full"),
    ("5.2.3", "message too large"),
    ("5.7.1", "refused by the receiving server's policy"),
    ("5.7.", "refused as spam or by policy"),
    ("4.7.", "delayed by the receiving server's policy"),
    ("5.4.", "could not be routed to the receiving server"),
    ("4.4.", "could not reach the receiving server"),
)
_BASIC = {
    421: "server busy, try later",
    450: "mailbox busy, try later",
    451: "server busy, try later",
    452: "mailbox full",
    550: "mailbox unavailable",
    551: "address not here",
    552: "mailbox full",
    553: "address not accepted",
    554: "refused by the receiving server",
}
_CODE = re.compile(r"\b([245])(\d\d)\b")
_ENHANCED_CODE = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")
_GAVE_UP = re.compile(r"^gave up after (\d+) tries: (.*)$", re.S)


@dataclass(frozen=True)
class Explanation:
    """A reason in plain words and the raw server reply it came from (may be empty)."""

    reason: str
    raw: str


def plain_reply(raw: str) -> str:
    """A mail server's reply in plain words ("mailbox full"); the raw text when unknown."""
    enhanced = _ENHANCED_CODE.search(raw)
    if enhanced:
        for prefix, words in _ENHANCED:
            if enhanced.group(1).startswith(prefix):
                return words
    code = _CODE.search(raw)
    if code and int(code.group(0)) in _BASIC:
        return _BASIC[int(code.group(0))]
    lowered = raw.lower()
    if "cannot connect" in lowered or "disconnected" in lowered or "timed out" in lowered:
        return "could not reach the mail server"
    if "message refused" in lowered:
        return "the message could not be built"
    return raw.strip() or "no reason recorded"


def explain(status: str, error: str | None, attempts: int) -> Explanation:
    """The plain reason and raw reply of a report row with ``status`` and stored ``error``."""
    text = (error or "").strip()
    if status == "sent":
        return Explanation("", "")
    if status == "waiting":
        return Explanation("not tried yet", "")
    if status in ("bounced", "complained", "unsubscribed"):
        words = {
            "bounced": "bounced after it was sent",
            "complained": "marked it as spam",
            "unsubscribed": "unsubscribed from this email",
        }[status]
        detail = plain_reply(text) if text else ""
        return Explanation(f"{words} ({detail})" if detail and status == "bounced" else words, text)
    if status == "skipped":
        if text == "address is suppressed":
            return Explanation("suppressed before sending", "")
        if text.startswith("subscriber is "):
            return Explanation(f"{text.removeprefix('subscriber is ')} before sending", "")
        if text == "send cancelled":
            return Explanation("send cancelled before their turn", "")
        return Explanation(text or "skipped", "")
    gave_up = _GAVE_UP.match(text)
    if gave_up:
        tries, raw = gave_up.groups()
        return Explanation(f"gave up after {tries} tries ({plain_reply(raw)})", raw)
    if status == "retrying":
        return Explanation(f"retrying after {attempts} tries ({plain_reply(text)})", text)
    return Explanation(plain_reply(text), text)


def summary_reason(status: str, error: str | None, attempts: int) -> str:
    """The reason as counted in a send's summary: "gave up after 5 tries" without detail."""
    gave_up = _GAVE_UP.match((error or "").strip())
    if status == "failed" and gave_up:
        return f"gave up after {gave_up.group(1)} tries"
    if status == "retrying":
        return "retrying"
    return explain(status, error, attempts).reason


@dataclass(frozen=True)
class ReportRow:
    """One recipient of a send and what became of their message."""

    delivery_id: int
    subscriber_id: int | None
    email: str
    name: str
    segment: str
    status: str
    reason: str
    raw: str
    attempts: int
    finished_at: datetime | None
    next_attempt_at: datetime | None
    message_id: str | None

    def to_json(self) -> dict[str, Any]:
        """The documented JSON of a report row."""
        return {
            "delivery_id": self.delivery_id,
            "subscriber_id": self.subscriber_id,
            "email": self.email,
            "name": self.name,
            "segment": self.segment,
            "status": self.status,
            "reason": self.reason,
            "smtp_reply": self.raw,
            "attempts": self.attempts,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "next_attempt_at": self.next_attempt_at.isoformat() if self.next_attempt_at else None,
            "message_id": self.message_id,
        }


def _report_status(send_id: int) -> tuple[ColumnElement[str], ColumnElement[str]]:
    """The SQL report status of a delivery, and the bounce diagnostic when there is one."""
    reported = select(BounceEvent.diagnostic).where(BounceEvent.delivery_id == Delivery.id)
    complained = exists(reported.where(BounceEvent.kind == "complaint"))
    bounced = exists(reported.where(BounceEvent.kind.in_(("hard", "soft"))))
    unsubscribed = exists(
        select(StatusChange.id).where(
            StatusChange.send_id == send_id,
            StatusChange.subscriber_id == Delivery.subscriber_id,
            StatusChange.status == "unsubscribed",
        )
    )
    sent = Delivery.status == "sent"
    status = case(
        (and_(sent, complained), literal("complained")),
        (and_(sent, unsubscribed), literal("unsubscribed")),
        (and_(sent, bounced), literal("bounced")),
        (
            Delivery.status.in_(("pending", "claimed")),
            case((Delivery.attempts > 0, literal("retrying")), else_=literal("waiting")),
        ),
        else_=Delivery.status,
    )
    diagnostic = (
        select(func.max(BounceEvent.status + " " + BounceEvent.diagnostic))
        .where(BounceEvent.delivery_id == Delivery.id, BounceEvent.kind.in_(("hard", "soft")))
        .scalar_subquery()
    )
    return status, diagnostic


def _query(send_id: int, status: str, search: str) -> Select[*tuple[Any, ...]]:
    if status and status not in FILTERS:
        raise UserError(f"status: {status!r} is not one of {', '.join(FILTERS)}")
    report_status, diagnostic = _report_status(send_id)
    query: Select[*tuple[Any, ...]] = (
        select(
            Delivery.id,
            Delivery.subscriber_id,
            Subscriber.email,
            Subscriber.name,
            Delivery.segment,
            report_status.label("report_status"),
            Delivery.error,
            diagnostic.label("diagnostic"),
            Delivery.attempts,
            Delivery.finished_at,
            Delivery.next_attempt_at,
            Delivery.message_id,
        )
        .outerjoin(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(Delivery.send_id == send_id)
    )
    if status == "not_delivered":
        query = query.where(report_status.in_(NOT_DELIVERED))
    elif status:
        query = query.where(report_status == status)
    text = search.strip().lower()
    if text:
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(
            or_(
                Subscriber.email_key.like(pattern, escape="\\"),
                func.lower(Subscriber.name).like(pattern, escape="\\"),
            )
        )
    return query


def _row(values: Any) -> ReportRow:
    (delivery_id, subscriber_id, email, name, segment, status, error, diagnostic, attempts,
     finished_at, next_attempt_at, message_id) = values  # fmt: skip
    source = diagnostic if status == "bounced" and diagnostic else error
    explanation = explain(status, source, attempts)
    return ReportRow(
        delivery_id=delivery_id,
        subscriber_id=subscriber_id,
        email=email if email is not None else "(erased)",
        name=name or "",
        segment=segment,
        status=status,
        reason=explanation.reason,
        raw=explanation.raw,
        attempts=attempts,
        finished_at=finished_at,
        next_attempt_at=next_attempt_at,
        message_id=message_id,
    )


def page(
    session: Session,
    send_id: int,
    *,
    status: str = "",
    search: str = "",
    after: int = 0,
    limit: int = PAGE_SIZE,
) -> tuple[list[ReportRow], int | None]:
    """One page of the report by delivery id after ``after``; returns (rows, next ``after``).

    ``status`` is one of :data:`FILTERS` (empty: everyone); ``search`` matches
    the address or name.  Raises UserError for an unknown status.
    """
    limit = max(1, min(limit, 1000))
    query = _query(send_id, status, search).where(Delivery.id > after)
    found = session.execute(query.order_by(Delivery.id).limit(limit + 1)).all()
    rows = [_row(v) for v in found[:limit]]
    return rows, rows[-1].delivery_id if len(found) > limit else None


def iter_rows(
    session: Session, send_id: int, *, status: str = "", search: str = ""
) -> Iterator[ReportRow]:
    """Every row of the report in delivery id order, read a page at a time."""
    after = 0
    while True:
        rows, next_after = page(
            session, send_id, status=status, search=search, after=after, limit=1000
        )
        yield from rows
        if next_after is None:
            return
        after = next_after


CSV_COLUMNS = (
    "email", "name", "segment", "status", "reason", "smtp_reply", "attempts",
    "finished_at", "next_attempt_at", "message_id",
)  # fmt: skip


def write_csv(rows: Iterator[ReportRow], out: IO[str]) -> int:
    """Write the report as CSV (a header row, then one row per recipient); returns the rows.

    Text cells that start like a formula are neutralised
    (:func:`newsletter.subscriber_csv.neutralise`): names come from the public
    subscribe form and replies from other people's mail servers.
    """
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    n = 0
    for row in rows:
        data = row.to_json()
        data["smtp_reply"] = row.raw
        writer.writerow([_csv_cell(data[c]) for c in CSV_COLUMNS])
        n += 1
    return n


def _csv_cell(value: object) -> object:
    if value is None:
        return ""
    return neutralise(value) if isinstance(value, str) else value


@dataclass(frozen=True)
class ReasonCount:
    """How many recipients share one reason, and the status that links to them."""

    reason: str
    count: int
    status: str

    def to_json(self) -> dict[str, Any]:
        """``{reason, count, status}``."""
        return {"reason": self.reason, "count": self.count, "status": self.status}


def reasons(session: Session, send_id: int) -> list[ReasonCount]:
    """Why recipients did not get the send, most common first.

    "12 suppressed before sending, 3 mailbox full, 1 gave up after 5 tries":
    counted over every row not sent (or reported on after sending), grouped
    by status and stored reason in the database, then put into words.
    """
    report_status, _ = _report_status(send_id)
    rows = (
        select(report_status.label("status"), Delivery.error, Delivery.attempts)
        .where(Delivery.send_id == send_id)
        .subquery()
    )
    grouped = session.execute(
        select(rows.c.status, rows.c.error, func.max(rows.c.attempts), func.count())
        .where(rows.c.status.not_in(("sent", "waiting")))
        .group_by(rows.c.status, rows.c.error)
    ).all()
    totals: Counter[tuple[str, str]] = Counter()
    for status, error, attempts, n in grouped:
        totals[(summary_reason(status, error, int(attempts or 0)), status)] += int(n)
    return [
        ReasonCount(reason, n, status)
        for (reason, status), n in sorted(totals.items(), key=lambda item: (-item[1], item[0]))
    ]


def reasons_text(counts: list[ReasonCount]) -> str:
    """The summary as one line: "12 suppressed before sending, 3 mailbox full"."""
    return ", ".join(f"{c.count} {c.reason}" for c in counts)


@dataclass(frozen=True)
class Timeline:
    """Delivered and failed counts per time bucket, cumulative, for the progress chart."""

    start: datetime | None
    bucket_seconds: int
    sent: list[int]
    failed: list[int]

    def to_json(self) -> dict[str, Any]:
        """The documented JSON of a timeline."""
        return {
            "start": self.start.isoformat() if self.start else None,
            "bucket_seconds": self.bucket_seconds,
            "sent": self.sent,
            "failed": self.failed,
        }


def timeline(session: Session, send_id: int, buckets: int = 60) -> Timeline:
    """Cumulative sent/failed counts over time from ``Delivery.finished_at``.

    Counted by the database per bucket (epoch arithmetic per dialect), so the
    cost does not grow with the number of recipients held in memory.
    """
    bounds = session.execute(
        select(func.min(Delivery.finished_at), func.max(Delivery.finished_at)).where(
            Delivery.send_id == send_id, Delivery.status.in_(("sent", "failed"))
        )
    ).one()
    first, last = bounds
    if first is None or last is None:
        return Timeline(None, 1, [], [])
    span = max(1.0, (last - first).total_seconds())
    size = max(1, int(span // buckets) + 1)
    epoch = _Epoch(session.get_bind().dialect.name)
    index = ((epoch(Delivery.finished_at) - first.timestamp()) / size).label("bucket")
    rows = session.execute(
        select(func.floor(index), Delivery.status, func.count())
        .where(Delivery.send_id == send_id, Delivery.status.in_(("sent", "failed")))
        .group_by(func.floor(index), Delivery.status)
    ).all()
    count = int(span // size) + 1
    sent, failed = [0] * count, [0] * count
    for bucket, status, n in rows:
        position = min(count - 1, max(0, int(bucket)))
        (sent if status == "sent" else failed)[position] += int(n)
    for series in (sent, failed):
        for i in range(1, count):
            series[i] += series[i - 1]
    return Timeline(first, size, sent, failed)


class _Epoch:
    """Seconds since 1970 of a timestamp column, in the session's SQL dialect."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect

    def __call__(self, column: Any) -> Any:
        if self.dialect == "postgresql":
            return func.extract("epoch", column)
        # SQLite stores "YYYY-MM-DD HH:MM:SS.ffffff"; julianday keeps the fraction.
        return (func.julianday(column) - 2440587.5) * 86400.0


def progress(session: Session, send_id: int) -> dict[str, Any]:
    """A send's documented JSON (status, counts) with its delivered/failed timeline.

    ``scheduled_at_uk``, ``started_at_uk`` and ``finished_at_uk`` are the times
    as people read them ("Wed 20 Oct 2027, 09:00 UK").  The console's live
    page and the API both serve this; raises SendNotFoundError for an unknown send.
    """
    data = sends.to_json(session, sends.get_send(session, send_id))
    shown = {
        f"{key}_uk": display.uk_time_iso(data[key], empty="not yet")
        for key in ("scheduled_at", "started_at", "finished_at")
    }
    return {**data, **shown, "timeline": timeline(session, send_id).to_json()}
