"""Bulk upsert of subscribers through a staging table: what a CSV import stores.

Row-at-a-time ORM upserts ran at about 2,900 rows/s on PostgreSQL.  Here the
validated rows are first copied into temporary staging tables (``COPY … FROM
STDIN`` on PostgreSQL, one ``executemany`` INSERT on SQLite), then stored by
a handful of set-based statements, whatever the number of rows:

1. one join of the staging rows with ``subscribers`` reads the addresses that
   already exist (with their roles), and Python decides per row, with the
   same rules as :func:`newsletter.subscribers.upsert`: unchanged, updated,
   or left alone because the address has opted out;
2. ``INSERT … SELECT`` creates every new subscriber and ``INSERT … SELECT``
   their roles;
3. the decided updates are staged too and applied by one ``UPDATE … FROM``,
   roles replaced by one ``DELETE`` and one ``INSERT … SELECT``.

The rule that matters most holds here as everywhere: an opted-out address
(unsubscribed, bounced, complained) is never made pending or active again.
By default its row is skipped entirely (its details are left as they are);
with ``update_opted_out`` its profile is updated, never its opt-out.

Rows may come in batches (:class:`BulkImport`): each batch goes through the
same steps, and a CSV import on PostgreSQL reads the next batch meanwhile
(:mod:`newsletter.subscriber_csv`).  Everything runs in the caller's
transaction: nothing is half-stored.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, TextClause, bindparam, text
from sqlalchemy.orm import Session

from newsletter.models import UTCDateTime, utcnow
from newsletter.subscribers import OPTED_OUT, SubscriberInput, UpsertResult, check_status

# Imports creating at least this many subscribers analyse the tables afterwards.
ANALYZE_AFTER = 1000
_ROWS = "subscriber_import_rows"
_ROLES = "subscriber_import_roles"
_UPDATES = "subscriber_import_updates"
_ROW_COLUMNS = ("ord", "email", "email_key", "name", "organisation", "region", "status", "attrs")
_UPDATE_COLUMNS = (
    "id",
    "ord",
    "email",
    "name",
    "organisation",
    "region",
    "attrs",
    "status",
    "roles_changed",
)


@dataclass
class _Current:
    """An existing subscriber as the import compares it."""

    id: int
    email: str
    name: str
    organisation: str
    region: str
    status: str
    attributes_json: str  # as stored; parsed only when it differs from the row's text
    roles: list[str]

    def attributes_differ(self, attributes: dict[str, Any], attributes_json: str) -> bool:
        """Whether ``attributes`` are not what is stored."""
        if self.attributes_json == attributes_json:
            return False
        stored = json.loads(self.attributes_json) if self.attributes_json else {}
        return bool(stored != attributes)


def bulk_import(
    session: Session,
    rows: Sequence[SubscriberInput],
    *,
    default_status: str,
    consent_source: str,
    update_opted_out: bool = False,
) -> UpsertResult:
    """Create or update ``rows`` by address with set-based statements; the caller commits.

    New subscribers get ``row.status`` or ``default_status`` and a consent
    record.  Existing ones get the row's profile (name, organisation, region,
    roles, attributes) and its status if it names one, except that an
    opted-out address is never moved back to pending or active
    (``kept_opted_out``) and, unless ``update_opted_out``, its row is skipped
    altogether (``skipped_opted_out``).  Re-applying the same rows changes
    nothing.  Raises ValueError if two rows share an address.
    """
    with BulkImport(
        session,
        default_status=default_status,
        consent_source=consent_source,
        update_opted_out=update_opted_out,
    ) as store:
        store.add(rows)
    return store.result


class BulkImport:
    """One import stored in batches of rows, all in the caller's transaction.

    ``with BulkImport(...) as store: store.add(batch); store.add(batch) …``
    stores each batch as :func:`bulk_import` stores its rows; the result's
    indexes count across batches, in the order the rows were added.  The
    batches must name distinct addresses (a CSV import rejects repeats while
    reading).  :meth:`add` is :meth:`prepare`, :meth:`stage`, :meth:`write`.
    They may run in different threads: :meth:`prepare` (no database) for the
    next batch while :meth:`write` runs for the last; :meth:`stage` and
    :meth:`write` use the connection, one call at a time, in batch order.
    The first :meth:`stage` flushes the session and takes its connection:
    nothing else may use the session until the ``with`` block ends.
    Nothing is committed: the caller commits or rolls back the whole import.
    """

    def __init__(
        self,
        session: Session,
        *,
        default_status: str,
        consent_source: str,
        update_opted_out: bool = False,
    ) -> None:
        self.result = UpsertResult()
        self._session = session
        self._default_status = check_status(default_status)
        self._consent_source = consent_source
        self._update_opted_out = update_opted_out
        self._now = utcnow()
        self._offset = 0  # rows added so far: the next batch's first index
        self._conn: Connection | None = None  # taken by the first non-empty batch
        self._postgres = session.get_bind().dialect.name == "postgresql"

    def __enter__(self) -> BulkImport:
        return self

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        conn = self._conn
        if conn is None or kind is not None:
            # On an error the caller rolls back, which also removes the staging
            # tables (made in this transaction); the connection may not even
            # take a statement now (PostgreSQL refuses any in a failed one).
            return
        if self._postgres and self.result.created >= ANALYZE_AFTER:
            # As autovacuum would, only now: the next import's and the next
            # send's plans need to know the table has grown.
            conn.execute(text("ANALYZE subscribers, subscriber_roles"))
        for table in (_ROWS, _ROLES, _UPDATES):
            conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
        self._session.expire_all()  # the ORM's copies of changed subscribers are stale now

    def add(self, rows: Sequence[SubscriberInput]) -> None:
        """Store one batch of rows (see :func:`bulk_import`); raises ValueError on repeats."""
        self.store(self.prepare(rows))

    def prepare(self, rows: Sequence[SubscriberInput]) -> Batch:
        """``rows`` with their staging data, for :meth:`stage`; raises ValueError on repeats.

        Pure Python, no database: a pipelined import prepares the next batch
        in its own thread while :meth:`write` waits on PostgreSQL.
        """
        if len({row.email_key for row in rows}) != len(rows):
            raise ValueError("import rows must have distinct addresses")
        values = list(_row_values(rows))
        roles = [(index, role) for index, row in enumerate(rows) for role in row.roles]
        if self._postgres:
            return Batch(rows, _copy_text(values), _copy_text(roles))
        return Batch(rows, values, roles)

    def store(self, batch: Batch) -> None:
        """Store a prepared batch (see :func:`bulk_import`): :meth:`stage`, then :meth:`write`."""
        self.write(self.stage(batch))

    def stage(self, batch: Batch) -> Staged:
        """Copy a prepared batch into the staging tables and decide each existing row.

        Quick statements only (about 0.06 s per 25,000 rows): a pipelined
        import runs them in its own thread while no :meth:`write` runs.
        """
        rows = batch.rows
        counts = UpsertResult()  # this batch's, its indexes counted from 0
        if not rows:
            return Staged(0, counts, [])
        conn = self._conn if self._conn is not None else self._begin()
        postgres = self._postgres
        if self._offset:  # the staging tables still hold the previous batch
            if postgres:
                conn.execute(text(f"TRUNCATE {_ROWS}, {_ROLES}, {_UPDATES}"))
            else:
                for table in (_ROWS, _ROLES, _UPDATES):
                    conn.execute(text(f"DELETE FROM {table}"))  # noqa: S608 - constant names
        _stage(conn, postgres, _ROWS, _ROW_COLUMNS, batch.staged_rows)
        _stage(conn, postgres, _ROLES, ("ord", "role"), batch.staged_roles)
        if postgres and not self._offset:
            # Temporary tables get no statistics by themselves (autovacuum never
            # sees them): without these the planner guesses their size for the
            # joins with subscribers below.  Once is enough: the planner scales
            # the row count by the table's size, and later batches are alike
            # (one per batch cost about 0.15 s more over 100,000 rows in ten).
            conn.execute(text("ANALYZE subscriber_import_rows, subscriber_import_roles"))
        existing = _existing(conn, postgres)
        updates = _decide(rows, existing, self._update_opted_out, counts)
        return Staged(len(rows), counts, updates)

    def write(self, staged: Staged) -> None:
        """Create the staged batch's new subscribers and apply its updates.

        The long statements (about 0.5 s per 25,000 new subscribers): a
        pipelined import runs them in a worker thread while it reads on.
        """
        if not staged.rows:
            return
        conn = self._conn
        assert conn is not None  # stage() took it
        postgres, counts = self._postgres, staged.counts
        counts.created = _insert_new(
            conn, postgres, self._default_status, self._consent_source, self._now
        )
        if staged.updates:
            _stage(conn, postgres, _UPDATES, _UPDATE_COLUMNS, staged.updates)
            _apply_updates(conn, self._now, self._consent_source)
        result, offset = self.result, self._offset
        result.created += counts.created
        result.updated += counts.updated
        result.unchanged += counts.unchanged
        result.kept_opted_out.extend(offset + index for index in counts.kept_opted_out)
        result.skipped_opted_out.extend(offset + index for index in counts.skipped_opted_out)
        self._offset += staged.rows

    def _begin(self) -> Connection:
        """Lock out other writers of subscribers and make the staging tables."""
        self._session.flush()
        conn = self._session.connection()
        postgres = self._postgres
        if postgres:
            # Imports run one at a time, and nothing else adds or changes a
            # subscriber while one runs (readers are not held up): two imports
            # naming the same new address, or a sign-up landing between this
            # import's read of the existing rows and its INSERT, would otherwise
            # fail it on the unique address.  Writers wait until this
            # transaction ends (seconds for 100,000 rows, README "Performance").
            conn.execute(text("LOCK TABLE subscribers IN SHARE ROW EXCLUSIVE MODE"))
        else:
            # Take the store's write lock before the first read: a transaction that
            # read subscribers and only then writes fails at once with "database is
            # locked" (SQLite's stale-snapshot rule, no busy wait) if any other
            # connection committed in between, e.g. an import job's progress.
            conn.execute(text("UPDATE subscribers SET id = id WHERE 0"))
        _create_staging(conn, postgres)
        self._conn = conn
        return conn


@dataclass(frozen=True)
class Batch:
    """Rows to store with their staging data (:meth:`BulkImport.prepare`).

    The staging data is COPY text on PostgreSQL, the rows' values elsewhere.
    """

    rows: Sequence[SubscriberInput]
    staged_rows: str | list[tuple[Any, ...]]
    staged_roles: str | list[tuple[Any, ...]]


@dataclass(frozen=True)
class Staged:
    """A batch in the staging tables (:meth:`BulkImport.stage`), ready to write."""

    rows: int
    counts: UpsertResult  # the batch's unchanged, skipped and kept rows so far
    updates: list[tuple[Any, ...]]  # the staged values of each update


def _create_staging(conn: Connection, postgres: bool) -> None:
    """Fresh temporary tables (private to this connection)."""
    json_type = "json" if postgres else "TEXT"
    for table in (_ROWS, _ROLES, _UPDATES):
        conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
    conn.execute(
        text(
            "CREATE TEMPORARY TABLE subscriber_import_rows (ord integer PRIMARY KEY, "
            "email text NOT NULL, email_key text NOT NULL, name text NOT NULL, "
            "organisation text NOT NULL, region text NOT NULL, status text, "
            f"attrs {json_type} NOT NULL, is_new boolean NOT NULL DEFAULT false)"
        )
    )
    conn.execute(
        text("CREATE INDEX subscriber_import_rows_key ON subscriber_import_rows (email_key)")
    )
    conn.execute(
        text("CREATE TEMPORARY TABLE subscriber_import_roles (ord integer NOT NULL, role text)")
    )
    conn.execute(
        text(
            "CREATE TEMPORARY TABLE subscriber_import_updates (id integer PRIMARY KEY, "
            "ord integer NOT NULL, email text, name text, organisation text, region text, "
            f"attrs {json_type}, status text, roles_changed boolean)"
        )
    )


def _row_values(rows: Sequence[SubscriberInput]) -> Iterator[tuple[Any, ...]]:
    for index, row in enumerate(rows):
        yield (
            index,
            row.email,
            row.email_key,
            row.name,
            row.organisation,
            row.region,
            row.status,
            json.dumps(row.attributes),
        )


def _copy_text(values: Sequence[tuple[Any, ...]]) -> str:
    """``values`` in the text format of ``COPY … FROM STDIN``: one line per tuple.

    Fields are tab-separated, None is ``\\N``, and a backslash, tab, line feed
    or carriage return inside a value is escaped with a backslash.
    """
    return "".join("\t".join(map(_copy_field, value)) + "\n" for value in values)


def _copy_field(value: Any) -> str:
    if value is None:
        return "\\N"
    text = value if isinstance(value, str) else str(value)
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        text = (
            text.replace("\\", "\\\\")
            .replace("\t", "\\t")
            .replace("\n", "\\n")
            .replace("\r", "\\r")
        )
    return text


def _stage(
    conn: Connection,
    postgres: bool,
    table: str,
    columns: Sequence[str],
    values: str | Iterator[tuple[Any, ...]] | Sequence[tuple[Any, ...]],
) -> None:
    """Load ``values`` into a staging table: COPY on PostgreSQL, executemany elsewhere.

    A str is already COPY text (:func:`_copy_text`), written in one piece.
    """
    names = ", ".join(columns)
    if postgres:
        raw: Any = conn.connection.driver_connection
        with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            if isinstance(values, str):
                copy.write(values)
            else:
                for value in values:
                    copy.write_row(value)
        return
    assert not isinstance(values, str)
    stamp = UTCDateTime().bind_processor(conn.dialect)
    assert stamp is not None
    batch = [
        {c: stamp(v) if isinstance(v, datetime) else v for c, v in zip(columns, value, strict=True)}
        for value in values
    ]
    if batch:
        placeholders = ", ".join(f":{c}" for c in columns)
        # Table and column names are this module's constants, never input.
        statement = f"INSERT INTO {table} ({names}) VALUES ({placeholders})"  # noqa: S608
        conn.execute(text(statement), batch)


def _existing(conn: Connection, postgres: bool) -> dict[int, _Current]:
    """The existing subscribers the staged rows name, by staging ``ord``, with roles."""
    found: dict[int, _Current] = {}
    by_id: dict[int, _Current] = {}
    query = text(
        "SELECT r.ord, s.id, s.email, s.name, s.organisation, s.region, s.status, "
        + ("CAST(s.attributes AS text)" if postgres else "s.attributes")
        + " AS attributes "
        "FROM subscriber_import_rows r JOIN subscribers s ON s.email_key = r.email_key"
    )
    for row in conn.execute(query).all():
        current = _Current(
            id=row.id,
            email=row.email,
            name=row.name,
            organisation=row.organisation,
            region=row.region,
            status=row.status,
            attributes_json=row.attributes or "",
            roles=[],
        )
        found[row.ord] = current
        by_id[row.id] = current
    if found:
        roles = conn.execute(
            text(
                "SELECT sr.subscriber_id, sr.role FROM subscriber_roles sr "
                "JOIN subscribers s ON s.id = sr.subscriber_id "
                "JOIN subscriber_import_rows r ON r.email_key = s.email_key"
            )
        ).all()
        for subscriber_id, role in roles:
            by_id[subscriber_id].roles.append(role)
    return found


def _decide(
    rows: Sequence[SubscriberInput],
    existing: dict[int, _Current],
    update_opted_out: bool,
    result: UpsertResult,
) -> list[tuple[Any, ...]]:
    """Count unchanged / updated / skipped rows; the staged values of each update."""
    updates: list[tuple[Any, ...]] = []
    for index in sorted(existing):
        row, current = rows[index], existing[index]
        if current.status in OPTED_OUT and not update_opted_out:
            result.skipped_opted_out.append(index)
            continue
        attributes_json = json.dumps(row.attributes)
        profile_changed = (current.email, current.name, current.organisation, current.region) != (
            row.email,
            row.name,
            row.organisation,
            row.region,
        ) or current.attributes_differ(row.attributes, attributes_json)
        roles_changed = sorted(current.roles) != sorted(row.roles)
        status = current.status
        if row.status and row.status != current.status:
            if current.status in OPTED_OUT and row.status in ("pending", "active"):
                result.kept_opted_out.append(index)
            else:
                status = row.status
        if not (profile_changed or roles_changed or status != current.status):
            result.unchanged += 1
            continue
        result.updated += 1
        updates.append(
            (
                current.id,
                index,
                row.email,
                row.name,
                row.organisation,
                row.region,
                attributes_json,
                status,
                roles_changed,
            )
        )
    return updates


def _insert_new(
    conn: Connection, postgres: bool, default_status: str, consent_source: str, now: datetime
) -> int:
    """Create the staged rows whose address is new, with their roles; returns how many."""
    if not postgres:  # SQLite has no INSERT in WITH: mark the new rows for the roles' join
        conn.execute(
            text(
                "UPDATE subscriber_import_rows SET is_new = true WHERE NOT EXISTS "
                "(SELECT 1 FROM subscribers s WHERE s.email_key = subscriber_import_rows.email_key)"
            )
        )
    # Constant text only (the two WHERE clauses are literals), never input.
    insert = (
        "INSERT INTO subscribers (email, email_key, name, organisation, region, status, "  # noqa: S608
        "attributes, reminders_enabled, created_at, updated_at, status_changed_at, "
        "confirmed_at, unsubscribed_at, consent_source, consent_at, consent_ip) "
        "SELECT r.email, r.email_key, r.name, r.organisation, r.region, "
        "COALESCE(r.status, :default_status), r.attrs, true, :now, :now, :now, "
        "CASE WHEN COALESCE(r.status, :default_status) = 'active' THEN :now END, "
        "CASE WHEN COALESCE(r.status, :default_status) = 'unsubscribed' THEN :now END, "
        ":consent_source, :now, NULL FROM subscriber_import_rows r WHERE "
        + (
            "NOT EXISTS (SELECT 1 FROM subscribers s WHERE s.email_key = r.email_key)"
            if postgres
            else "r.is_new"
        )
        + " ORDER BY r.ord"
    )
    values = {"default_status": default_status, "now": now, "consent_source": consent_source[:200]}
    if postgres:
        # One statement: the new ids come straight from RETURNING, so the roles
        # need no join with a table whose statistics do not know it just grew.
        created = conn.execute(
            _with_stamp(
                "WITH new AS ("  # noqa: S608 - constant text only
                + insert
                + " RETURNING id, email_key, status), "
                "roles AS (INSERT INTO subscriber_roles (subscriber_id, role) "
                "SELECT new.id, ro.role FROM new JOIN subscriber_import_rows r "
                "ON r.email_key = new.email_key "
                "JOIN subscriber_import_roles ro ON ro.ord = r.ord), "
                "history AS (" + _NEW_HISTORY + " FROM new) "
                "SELECT count(*) FROM new"
            ),
            values,
        ).scalar_one()
        return int(created)
    created = conn.execute(_with_stamp(insert), values).rowcount
    conn.execute(
        text(
            "INSERT INTO subscriber_roles (subscriber_id, role) "
            "SELECT DISTINCT s.id, ro.role FROM subscriber_import_roles ro "
            "JOIN subscriber_import_rows r ON r.ord = ro.ord "
            "JOIN subscribers s ON s.email_key = r.email_key WHERE r.is_new"
        )
    )
    conn.execute(
        _with_stamp(
            _NEW_HISTORY + " FROM subscribers new JOIN subscriber_import_rows r "
            "ON r.email_key = new.email_key WHERE r.is_new"
        ),
        values,
    )
    return int(created)


# Each new subscriber's first history row: its status, with the import as consent source.
_NEW_HISTORY = (
    "INSERT INTO subscriber_status_changes "
    "(subscriber_id, at, status, previous, source, consent_source) "
    "SELECT new.id, :now, new.status, NULL, :consent_source, :consent_source"
)


def _apply_updates(conn: Connection, now: datetime, source: str) -> None:
    """Apply the staged updates: profile and status in one statement, then roles.

    Status changes go into the subscribers' history first, with ``source``.
    """
    conn.execute(
        _with_stamp(
            "INSERT INTO subscriber_status_changes (subscriber_id, at, status, previous, source) "
            "SELECT s.id, :now, u.status, s.status, :source FROM subscriber_import_updates u "
            "JOIN subscribers s ON s.id = u.id WHERE u.status <> s.status"
        ),
        {"now": now, "source": source[:200]},
    )
    conn.execute(
        _with_stamp(
            # The stamps set_status() would set, where the status changes.
            "UPDATE subscribers SET "
            "status_changed_at = CASE WHEN u.status <> subscribers.status THEN :now "
            "ELSE subscribers.status_changed_at END, "
            "confirmed_at = CASE WHEN u.status <> subscribers.status AND u.status = 'active' "
            "THEN COALESCE(subscribers.confirmed_at, :now) ELSE subscribers.confirmed_at END, "
            "unsubscribed_at = CASE WHEN u.status <> subscribers.status "
            "AND u.status = 'unsubscribed' THEN :now ELSE subscribers.unsubscribed_at END, "
            "status = u.status, email = u.email, name = u.name, "
            "organisation = u.organisation, region = u.region, attributes = u.attrs, "
            "updated_at = :now FROM subscriber_import_updates u WHERE subscribers.id = u.id"
        ),
        {"now": now},
    )
    conn.execute(
        text(
            "DELETE FROM subscriber_roles WHERE subscriber_id IN "
            "(SELECT id FROM subscriber_import_updates WHERE roles_changed)"
        )
    )
    conn.execute(
        text(
            "INSERT INTO subscriber_roles (subscriber_id, role) "
            "SELECT DISTINCT u.id, ro.role FROM subscriber_import_updates u "
            "JOIN subscriber_import_roles ro ON ro.ord = u.ord WHERE u.roles_changed"
        )
    )


def _with_stamp(sql: str) -> TextClause:
    """``text(sql)`` whose ``:now`` is bound as a UTC timestamp on every database."""
    return text(sql).bindparams(bindparam("now", type_=UTCDateTime()))
