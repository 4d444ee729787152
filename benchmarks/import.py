"""Import 100,000 generated subscriber rows and print rows per second.

    python benchmarks/import.py [--rows N] [--database-url URL]

Uses a temporary SQLite file unless a URL is given (for example the local
PostgreSQL: postgresql+psycopg://postgres@127.0.0.1:5432/DBNAME, which must
exist and be empty).  As a baseline in the same run it also times parsing
and validating the same CSV without storing, so the store's share is visible.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from newsletter.db import engine_for, session_scope
from newsletter.migrate import upgrade_to_head
from newsletter.subscriber_csv import import_csv, parse_rows

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    text = generate(args.rows)
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite:///{Path(folder) / 'bench.db'}"
        engine = engine_for(url)
        upgrade_to_head(engine)

        started = time.perf_counter()
        parsed = parse_rows(text)
        validate_seconds = time.perf_counter() - started

        started = time.perf_counter()
        with session_scope(engine) as session:
            report = import_csv(session, text, source="generated.csv")
        import_seconds = time.perf_counter() - started
        engine.dispose()
    assert report.ok and report.result.created == args.rows, report.rejected[:3]
    assert len(parsed.inputs) == args.rows
    print(f"store: {engine.url.get_backend_name()}")
    print(f"validate only: {args.rows / validate_seconds:,.0f} rows/s ({validate_seconds:.2f} s)")
    print(f"import:        {args.rows / import_seconds:,.0f} rows/s ({import_seconds:.2f} s)")
    print(f"import / validate time ratio: {import_seconds / validate_seconds:.2f}")


if __name__ == "__main__":
    main()
