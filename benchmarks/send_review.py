"""The send review's counts: how long ``newsletter send`` takes to show what it will do.

Run: ``python benchmarks/send_review.py [--n 1000000] [--rounds 4] [--before REF]``
(with ``NEWSLETTER_DATABASE_URL=postgresql://…``: a scratch database is made on
that server and dropped; otherwise SQLite in a temporary folder).
``--store URL`` uses a store that :func:`dispatch_store.fill_store` filled
before (kept between runs while working on the queries) instead.

It fills a fresh store with N subscribers (the three role segments, some
people in two), then, per round, runs the review of a send of the sample
update to ``dcs``, ``lead-member`` and ``workforce-lead`` in a fresh process
for each variant, as the command does before asking: the first review of the
process (a new connection) and a second one.

Variants, measured alternately in the same run so that the machine's load
falls on both alike:

- ``after``: this checkout;
- ``before``: the code of git ``REF`` (default ``main``), exported with
  ``git archive`` to a temporary folder and put first on ``PYTHONPATH``.

Both variants' recipients per segment are printed and must be equal (the
run fails otherwise).  At the end: medians and the after/before ratios, and
the machine's load average before and after: on a shared machine read the
ratios, not the absolute times.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dispatch_store import SEGMENTS, ensure_secret_key, fill_store, scratch_store
from first_message import export_tree
from sqlalchemy import func, select

from newsletter.db import engine_for, session_scope
from newsletter.models import Subscriber, UpdateRecord

# Run in a fresh process per variant: the review as ``newsletter send`` runs it.
CHILD = """
import json, sys, time
from newsletter.db import engine_for, session_scope
from newsletter.send_review import review
url, update_id, segments = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(",")
times = []
with session_scope(engine_for(url)) as session:
    for _ in range(2):
        start = time.perf_counter()
        result = review(session, update_id, segments)
        times.append(time.perf_counter() - start)
print(json.dumps({"times": times, "counts": [e.recipients for e in result.editions]}))
"""


def review_in_process(
    env: dict[str, str], url: str, update_id: int
) -> tuple[list[float], list[int]]:
    """(seconds of the first and second review, recipients per segment) in a new process."""
    done = subprocess.run(
        [sys.executable, "-c", CHILD, url, str(update_id), ",".join(SEGMENTS)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    result = json.loads(done.stdout)
    return [float(t) for t in result["times"]], [int(n) for n in result["counts"]]


def existing_store(url: str) -> tuple[int, int]:
    """(update id, subscribers) of a store filled before."""
    with session_scope(engine_for(url)) as session:
        update_id = session.scalar(select(func.min(UpdateRecord.id)))
        subscribers = session.scalar(select(func.count(Subscriber.id)))
    if update_id is None:
        raise SystemExit(f"{url}: no update stored; fill it with dispatch_store.fill_store")
    return int(update_id), int(subscribers or 0)


def measure(url: str, update_id: int, before_tree: Path, rounds: int) -> None:
    """Alternate the variants for ``rounds`` rounds and print the medians and ratios."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")} | {
        "NEWSLETTER_DATABASE_URL": url,
        "NEWSLETTER_SECRET_KEY": os.environ["NEWSLETTER_SECRET_KEY"],
    }
    path = os.pathsep.join(filter(None, [str(before_tree), os.environ.get("PYTHONPATH")]))
    envs = {"after": base, "before": base | {"PYTHONPATH": path}}
    times: dict[str, list[list[float]]] = {variant: [] for variant in envs}
    seen: dict[str, list[int]] = {}
    for r in range(rounds):
        for variant in ("before", "after") if r % 2 == 0 else ("after", "before"):
            seconds, counts = review_in_process(envs[variant], url, update_id)
            times[variant].append(seconds)
            print(
                f"  round {r + 1} {variant:>6}: first review {seconds[0]:6.3f} s, "
                f"second {seconds[1]:6.3f} s, recipients {counts} (total {sum(counts):,})",
                flush=True,
            )
            seen.setdefault(variant, counts)
    if seen["after"] != seen["before"]:
        raise SystemExit(f"the variants disagree: {seen}")
    print("\nmedians (wall seconds of review(); a fresh process per round):")
    med = {
        variant: [statistics.median(t[i] for t in values) for i in (0, 1)]
        for variant, values in times.items()
    }
    for variant, (first, second) in med.items():
        print(f"  {variant:>6}: first {first:6.3f} s, second {second:6.3f} s")
    print(
        f"  after/before: first {med['after'][0] / med['before'][0]:.3f}, "
        f"second {med['after'][1] / med['before'][1]:.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="subscribers (default 1,000,000)")
    parser.add_argument("--rounds", type=int, default=4, help="reviews per variant (default 4)")
    parser.add_argument("--before", default="main", help="git ref of the baseline code")
    parser.add_argument("--store", default="", help="URL of a store filled before (not dropped)")
    args = parser.parse_args()
    ensure_secret_key()
    print(f"load average before: {os.getloadavg()}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="send-review-") as tmp:
        folder = Path(tmp)
        before_tree = export_tree(args.before, folder)
        if args.store:
            update_id, n = existing_store(args.store)
            print(f"store {args.store} with {n:,} subscribers")
            measure(args.store, update_id, before_tree, args.rounds)
        else:
            configured = os.environ.get("NEWSLETTER_DATABASE_URL", "")
            with scratch_store(folder, "review", configured) as (url, kind):
                start = time.perf_counter()
                store = fill_store(url, kind, args.n)
                filled = time.perf_counter() - start
                print(f"{kind} store with {args.n:,} subscribers filled in {filled:.0f} s")
                measure(url, store.update_id, before_tree, args.rounds)
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
