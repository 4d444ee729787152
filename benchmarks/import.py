"""Subscriber import and export speed: rows per second, before and after, in one run.

    python benchmarks/import.py [--rows N]

With ``NEWSLETTER_DATABASE_URL=postgresql://…`` each phase gets a scratch
database on that server (dropped afterwards); otherwise SQLite files in a
temporary folder.  On the same generated CSV (N distinct subscribers, roles
and a free attribute) it times:

* validate only: parsing and checking every row, nothing stored (the floor
  for any import that validates in Python);
* before: the same rows stored the way imports used to store them, batched
  ORM upserts (:func:`newsletter.subscribers.upsert`), into an empty store;
* after: ``import_csv`` (staging table filled by COPY, set-based upsert)
  into an empty store;
* re-import: the same file again into the filled store (every row unchanged);
* export: ``export_csv`` of the filled store, streamed to a counting sink.

It prints rows per second for each and the ratios after/before; timings are
printed, never asserted.  The exit status is 1 only if a count is wrong.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from dispatch_store import ensure_secret_key, scratch_store

from newsletter.db import engine_for, session_scope
from newsletter.migrate import upgrade_to_head
from newsletter.subscriber_csv import export_csv, import_csv, parse_rows
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
        with scratch_store(folder, "import_after", configured) as (url, kind):
            engine = engine_for(url)
            upgrade_to_head(engine)
            started = time.perf_counter()
            with session_scope(engine) as session:
                report = import_csv(session, text, source="generated.csv")
            after = time.perf_counter() - started
            ok &= report.ok and report.result.created == n

            started = time.perf_counter()
            with session_scope(engine) as session:
                again = import_csv(session, text, source="generated.csv")
            reimport = time.perf_counter() - started
            ok &= again.result.unchanged == n

            sink = _Counting()
            started = time.perf_counter()
            with session_scope(engine) as session:
                exported = export_csv(session, sink)  # type: ignore[arg-type]
            export = time.perf_counter() - started
            ok &= exported == n
            engine.dispose()

    print(f"store: {kind}; {n:,} rows ({len(text) / 1e6:.1f} MB of CSV)")
    print(f"validate only:           {n / validate:>9,.0f} rows/s ({validate:.2f} s)")
    print(f"before (ORM upserts):    {n / before:>9,.0f} rows/s ({before:.2f} s)")
    print(f"after (COPY, set-based): {n / after:>9,.0f} rows/s ({after:.2f} s)")
    print(f"re-import, all unchanged:{n / reimport:>9,.0f} rows/s ({reimport:.2f} s)")
    print(
        f"export (streamed):       {n / export:>9,.0f} rows/s ({export:.2f} s, "
        f"{sink.characters / 1e6:.1f} MB)"
    )
    print(
        f"after / before: {before / after:.1f}x; after / validate-only time: {after / validate:.2f}"
    )
    if not ok:
        print("COUNT MISMATCH", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
