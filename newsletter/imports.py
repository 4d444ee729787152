"""Import jobs: subscriber CSV uploads too big to import inside a web request.

An upload with more than ``IMPORT_INLINE_ROWS`` rows is stored as an
:class:`~newsletter.models.ImportJob` and imported by the ``run_import`` task
(a Celery worker, or the embedded worker without a broker), which records
how many rows it has validated so the console and the API can show
progress.  The uploaded text is dropped from the row once the import ends;
the report (counts, rejected lines, warnings) stays.
"""

from __future__ import annotations

import logging
from typing import Any, Final

from sqlalchemy.orm import Session

from newsletter.db import session_scope
from newsletter.errors import NotFound, UserError
from newsletter.models import ImportJob, utcnow
from newsletter.subscriber_csv import CsvFormatError, ImportReport, import_csv

log = logging.getLogger(__name__)

# Progress is written to the job row this often (rows): a cheap UPDATE per batch.
PROGRESS_EVERY: Final = 1000


def decode_upload(data: bytes, source: str) -> str:
    """The uploaded CSV as text (UTF-8, BOM allowed); raises CsvFormatError if it is not text."""
    if b"\x00" in data:
        raise CsvFormatError(f"{source}: binary data, not a CSV file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CsvFormatError(f"{source}: not UTF-8 (byte {exc.start}); save as CSV UTF-8") from exc


def estimated_rows(text: str) -> int:
    """Rows in the file, counting lines (quoted fields may span lines: an upper bound)."""
    return max(0, text.count("\n") + (0 if text.endswith("\n") else 1) - 1)


def report_json(report: ImportReport, text: str | bytes | None = None) -> dict[str, Any]:
    """An import report as the API returns it and the console shows it.

    Given the imported file (``text``), each rejected row carries ``content``:
    the text of its line, so the reason can be read beside what was wrong.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8-sig", errors="replace")
    lines = text.splitlines() if text is not None else []

    def content(line: int) -> str | None:
        return lines[line - 1] if 0 < line <= len(lines) else None

    return {
        "rows": report.rows,
        "created": report.result.created,
        "updated": report.result.updated,
        "unchanged": report.result.unchanged,
        "skipped": len(report.result.skipped_opted_out),
        "rejected": [
            {"line": r.line, "reason": r.reason, "content": content(r.line)}
            for r in report.rejected
        ],
        "warnings": list(report.warnings),
    }


def create_job(
    session: Session, text: str, source: str, *, created_by: str | None, pending: bool = False
) -> ImportJob:
    """Store an import job for ``text``; the caller commits, then queues ``run_import``."""
    job = ImportJob(
        source=source[:300],
        created_by=created_by,
        status="queued",
        pending=pending,
        data=text,
        total_rows=estimated_rows(text),
    )
    session.add(job)
    session.flush()
    return job


def get_job(session: Session, job_id: int) -> ImportJob:
    """The import job ``job_id``; raises NotFound."""
    job = session.get(ImportJob, job_id) if 0 < job_id < 2**31 else None
    if job is None:
        raise NotFound(f"no import job {job_id}")
    return job


def job_json(job: ImportJob) -> dict[str, Any]:
    """An import job as the API returns it and the console's progress page polls it."""
    return {
        "id": job.id,
        "source": job.source,
        "status": job.status,
        "total_rows": job.total_rows,
        "done_rows": job.done_rows,
        "report": job.report,
        "error": job.error,
        "created_at": job.created_at.isoformat(),
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }


def _set(job_id: int, **values: Any) -> None:
    with session_scope() as session:
        job = session.get(ImportJob, job_id)
        if job is not None:
            for name, value in values.items():
                setattr(job, name, value)


def run_import(job_id: int) -> None:
    """Task: import a queued job's CSV, recording progress; a finished job is left alone.

    A file-level problem (no email column, …) marks the job failed with the
    message; bad rows are reported in the job's report as usual.
    """
    with session_scope() as session:
        job = session.get(ImportJob, job_id)
        if job is None or job.status not in ("queued", "running") or job.data is None:
            return
        job.status = "running"
        text, source, pending = job.data, job.source, job.pending
    done = 0

    def progress(rows: int) -> None:
        nonlocal done
        done += rows
        if done % PROGRESS_EVERY == 0:
            _set(job_id, done_rows=done)

    try:
        with session_scope() as session:
            report = import_csv(session, text, source=source, pending=pending, progress=progress)
    except UserError as exc:
        _set(job_id, status="failed", error=str(exc), data=None, finished_at=utcnow())
        return
    except Exception:
        log.exception("import job %s failed", job_id)
        _set(job_id, status="failed", error="the import failed unexpectedly; see the logs",
             data=None, finished_at=utcnow())  # fmt: skip
        raise
    _set(
        job_id,
        status="finished",
        done_rows=report.rows,
        report=report_json(report, text),
        data=None,
        finished_at=utcnow(),
    )
