"""Operations the console and the REST API share, so both do exactly the same thing.

Each takes an open session and leaves committing to the caller, except where
it says so; none knows about HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import Request
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from newsletter import display, sends, updates
from newsletter.imports import report_json
from newsletter.ingest import IngestError, ParseResult, parse_bytes
from newsletter.models import Delivery, Subscriber, UpdateRecord
from newsletter.web.deps import store

__all__ = ["report_json"]  # re-exported: the console and the API show reports alike

PAGE_SIZE = 50
INGEST_FORMATS = ("auto", "text", "markdown", "json")


def ingest(
    session: Session, data: bytes, source_name: str, fmt: str = "auto"
) -> tuple[UpdateRecord, list[str]]:
    """Parse an uploaded or pasted update and store it; returns the record and the warnings.

    Raises IngestError (nothing stored) for unusable input or an unknown format.
    The routes that call this are plain ``def`` functions, which FastAPI runs in
    its thread pool: parsing (up to ~1 s for a hostile 1 MB file, see
    ``benchmarks/ingest.py``) never blocks the event loop.
    """
    if fmt not in INGEST_FORMATS:
        raise IngestError(source_name, f"format must be one of {', '.join(INGEST_FORMATS)}")
    result: ParseResult = parse_bytes(data, source_name, fmt)
    record = updates.store_update(
        session, result.update, source_name=source_name, source_format=result.format
    )
    return record, list(result.warnings)


def search_subscribers(
    session: Session,
    query: str = "",
    status: str = "",
    after: int = 0,
    limit: int = PAGE_SIZE,
) -> list[Subscriber]:
    """Subscribers whose address, name or organisation contains ``query``, by id after ``after``.

    Keyset pagination (``id > after``): pages stay fast however long the list.
    """
    stmt = select(Subscriber).where(Subscriber.id > after)
    text = query.strip().lower()
    if text:
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(
            or_(
                Subscriber.email_key.like(pattern, escape="\\"),
                func.lower(Subscriber.name).like(pattern, escape="\\"),
                func.lower(Subscriber.organisation).like(pattern, escape="\\"),
            )
        )
    if status:
        stmt = stmt.where(Subscriber.status == status)
    return list(session.scalars(stmt.order_by(Subscriber.id).limit(max(1, min(limit, 500)))))


def export_subscribers(request: Request) -> Iterator[str]:
    """Every subscriber as CSV text (the import format), streamed a page at a time.

    Opens its own session, held while the response is being sent.
    """
    from newsletter.subscriber_csv import export_chunks

    with store(request) as db:
        yield from export_chunks(db)


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
    epoch = _epoch(session)
    index = ((epoch(Delivery.finished_at) - epoch.value(first)) / size).label("bucket")
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

    def value(self, when: datetime) -> float:
        return when.timestamp()


def _epoch(session: Session) -> _Epoch:
    return _Epoch(session.get_bind().dialect.name)


def send_progress(request: Request, send_id: int) -> dict[str, Any]:
    """A send's documented JSON (status, counts) with its delivered/failed timeline.

    ``scheduled_at_uk``, ``started_at_uk`` and ``finished_at_uk`` are the times
    as people read them ("Wed 20 Oct 2027, 09:00 UK").

    The console's live page and the API both serve this; raises SendNotFoundError
    (404 on the web) for an unknown send.
    """
    with store(request) as db:
        send = sends.get_send(db, send_id)
        data = sends.to_json(db, send)
        shown = {
            f"{key}_uk": display.uk_time_iso(data[key], empty="not yet")
            for key in ("scheduled_at", "started_at", "finished_at")
        }
        return {**data, **shown, "timeline": timeline(db, send_id).to_json()}
