"""Subscriber import and export speed: rows per second, before and after, in one run.

    python benchmarks/import.py [--rows N] [--rounds R]

With ``NEWSLETTER_DATABASE_URL=postgresql://…`` each import gets a scratch
database on that server (dropped afterwards); otherwise SQLite files in a
temporary folder.  On the same generated CSV (N distinct subscribers, roles
and a free attribute) it times:

* validate only: parsing and checking every row, nothing stored (the floor
  for any import that validates in Python);
* before: the same rows stored the way imports first stored them, batched
  ORM upserts (:func:`newsletter.subscribers.upsert`), into an empty store;
* one batch: ``import_csv`` with every row read before any is stored (the
  staging table filled by COPY, then set-based statements), into an empty
  store: how imports ran before reading and storing overlapped, and how
  they still run on SQLite;
* pipelined: ``import_csv`` as it runs on PostgreSQL, storing batch k while
  batch k + 1 is read, into an empty store (on SQLite it is the one-batch
  way again);
* re-import: the same file again into the filled store (every row unchanged);
* export: ``export_csv`` of the filled store, streamed to a counting sink.

The one-batch and pipelined imports alternate for ``--rounds`` rounds and the
best of each is printed, with their ratio.  Timings are printed, never
asserted.  The exit status is 1 only if a count is wrong.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from dispatch_store import ensure_secret_key, scratch_store
from sqlalchemy import Engine

from newsletter.db import engine_for, session_scope
from newsletter.migrate import upgrade_to_head
from newsletter.subscriber_csv import IMPORT_BATCH_ROWS, export_csv, import_csv, parse_rows
from newsletter.subscribers import upsert

AUTHORITIES = ("Durham", "Gateshead", "Newcastle", "Sunderland", "Darlington", "Hartlepool")
ROLES = ("DCS", "Lead Member", "Workforce Lead", "DCS;Workforce Lead")


def generate(rows: int) -> str:
    """A CSV text of ``rows`` distinct subscribers."""
    lines = ["email,name,organisation,region,roles,team"]
    for i in range(rows):
        authority = AUTHORITIES[i % len(AUTHORITIES)]
        lines.append(
            f"person{i}@{authority.lower()}.gov.uk,Person {i},{authority},North East,"
            f"{ROLES[i % len(ROLES)]},team{i % 7}"
        )
    return "\n".join(lines) + "\n"


class _Counting:
    """A text sink that only counts what is written."""

    def __init__(self) -> None:
        self.characters = 0

    def write(self, chunk: str) -> int:
        self.characters += len(chunk)
        return len(chunk)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument(
        "--rounds", type=int, default=2, help="one-batch and pipelined imports, alternated"
    )
    args = parser.parse_args()
    ensure_secret_key()
    n = args.rows
    text = generate(n)
    configured = os.environ.get("NEWSLETTER_DATABASE_URL", "")
    ok = True

    started = time.perf_counter()
    parsed = parse_rows(text)
    validate = time.perf_counter() - started
    ok &= len(parsed.inputs) == n

    timings: dict[str, list[float]] = {"one batch": [], "pipelined": []}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with scratch_store(folder, "import_before", configured) as (url, kind):
            engine = engine_for(url)
            upgrade_to_head(engine)
            started = time.perf_counter()
            with session_scope(engine) as session:
                rows = parse_rows(text).inputs
                result = upsert(session, rows, default_status="active", consent_source="bench")
            before = time.perf_counter() - started
            ok &= result.created == n
            engine.dispose()
        for round_ in range(args.rounds):
            for label, way, batch_rows in (
                ("one", "one batch", None),
                ("piped", "pipelined", IMPORT_BATCH_ROWS),
            ):
                with scratch_store(folder, f"import_{label}_{round_}", configured) as (
                    url,
                    kind,
                ):
                    engine = engine_for(url)
                    upgrade_to_head(engine)
                    started = time.perf_counter()
                    with session_scope(engine) as session:
                        report = import_csv(
                            session, text, source="generated.csv", batch_rows=batch_rows
                        )
                    timings[way].append(time.perf_counter() - started)
                    ok &= report.ok and report.result.created == n
                    if round_ == args.rounds - 1 and way == "pipelined":
                        reimport, export, exported_mb, good = _reimport_and_export(engine, text, n)
                        ok &= good
                    engine.dispose()

    one, piped = min(timings["one batch"]), min(timings["pipelined"])
    print(f"store: {kind}; {n:,} rows ({len(text) / 1e6:.1f} MB of CSV); best of {args.rounds}")
    print(f"validate only:            {n / validate:>9,.0f} rows/s ({validate:.2f} s)")
    print(f"before (ORM upserts):     {n / before:>9,.0f} rows/s ({before:.2f} s)")
    print(f"one batch (COPY, set):    {n / one:>9,.0f} rows/s ({one:.2f} s)")
    print(f"pipelined (COPY, set):    {n / piped:>9,.0f} rows/s ({piped:.2f} s)")
    print(f"re-import, all unchanged: {n / reimport:>9,.0f} rows/s ({reimport:.2f} s)")
    print(
        f"export (streamed):        {n / export:>9,.0f} rows/s "
        f"({export:.2f} s, {exported_mb:.1f} MB)"
    )
    print(
        f"pipelined / one batch: {one / piped:.2f}x; pipelined / before: {before / piped:.1f}x; "
        f"pipelined / validate-only time: {piped / validate:.2f}"
    )
    print(
        "all rounds (s): "
        + "; ".join(f"{k} {[round(t, 2) for t in v]}" for k, v in timings.items())
    )
    if not ok:
        print("COUNT MISMATCH", file=sys.stderr)
    return 0 if ok else 1


def _reimport_and_export(engine: Engine, text: str, n: int) -> tuple[float, float, float, bool]:
    """Seconds to re-import ``text`` and to export the store, the export's MB, counts right."""
    started = time.perf_counter()
    with session_scope(engine) as session:
        again = import_csv(session, text, source="generated.csv")
    reimport = time.perf_counter() - started
    sink = _Counting()
    started = time.perf_counter()
    with session_scope(engine) as session:
        exported = export_csv(session, sink)  # type: ignore[arg-type]
    export = time.perf_counter() - started
    good = again.result.unchanged == n and exported == n
    return reimport, export, sink.characters / 1e6, good


if __name__ == "__main__":
    raise SystemExit(main())
