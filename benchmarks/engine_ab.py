"""The engine's rate and CPU per message: this checkout against a git ref, alternated.

Run: ``python benchmarks/engine_ab.py --before main [--after REF] [--n 20000] [--rounds 3]``
(``NEWSLETTER_DATABASE_URL=postgresql://…`` for PostgreSQL, as for
benchmarks/dispatch.py).  ``--env NAME=VALUE`` sets a setting for the
``after`` variant only (with ``--before`` omitted, the two variants are the
same code, with and without those settings: e.g. ``--env
NEWSLETTER_BATCH_SIZE=1000``).

One store of N subscribers, one redis-server and one SMTP sink serve every
run.  Each round sends the stored update to all N through a fresh Celery
worker (benchmarks/dispatch_engine.py) once per variant, in alternating
order, so this machine's drift falls on both alike.  ``before`` is the code
of ``REF`` (and ``after`` that of ``--after``, else this checkout) exported
with ``git archive`` and put first on ``PYTHONPATH`` for
the command and its workers (same interpreter, packages and store).  Per run
it prints the end-to-end and steady rates and the CPU per message of each
process group; at the end the medians and the after/before ratios.  Nothing
is asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from dispatch_engine import run_engine
from dispatch_procs import SmtpSink, free_port, start_redis
from dispatch_store import ensure_secret_key, fill_store, scratch_store
from first_message import export_tree

from newsletter.config import reset_settings

GROUPS = ("workers", "postgres (this database)", "redis", "sink", "send command")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=20_000, help="messages per engine run")
    parser.add_argument("--rounds", type=int, default=3, help="engine runs per variant")
    parser.add_argument("--before", metavar="REF", help="git ref of the 'before' code")
    parser.add_argument(
        "--after", metavar="REF", help="git ref of the 'after' code (default: this checkout)"
    )
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for 'after'")
    parser.add_argument("--concurrency", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args(argv)
    after_env = dict(item.split("=", 1) for item in args.env)
    ensure_secret_key()
    print(f"load average before: {os.getloadavg()}", flush=True)
    figures: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
    with tempfile.TemporaryDirectory(prefix="engine-ab-") as tmp:
        folder = Path(tmp)
        variants: dict[str, dict[str, str]] = {"before": {}, "after": after_env}
        for variant, ref in (("before", args.before), ("after", args.after)):
            if ref:
                (folder / variant).mkdir()
                tree = export_tree(ref, folder / variant)
                path = os.pathsep.join(filter(None, [str(tree), os.environ.get("PYTHONPATH")]))
                variants[variant] = variants[variant] | {"PYTHONPATH": path}
        redis_port, sink_port = free_port(), free_port()
        redis_service = start_redis(redis_port, folder)
        sink = SmtpSink(sink_port)
        saved = dict(os.environ)
        try:
            configured = os.environ.get("NEWSLETTER_DATABASE_URL", "")
            with scratch_store(folder, "ab", configured) as (url, kind):
                store = fill_store(url, kind, args.n)
                for r in range(args.rounds):
                    order = ("before", "after") if r % 2 == 0 else ("after", "before")
                    for variant in order:
                        os.environ.clear()
                        os.environ.update(saved | {"NEWSLETTER_DATABASE_URL": url})
                        os.environ.update(variants[variant])
                        reset_settings()
                        run = run_engine(
                            store,
                            broker_url=f"redis://127.0.0.1:{redis_port}/0",
                            sink=sink,
                            redis_pid=redis_service.pid,
                            concurrency=args.concurrency,
                            folder=folder,
                        )
                        if run.counts.sent != args.n:
                            raise SystemExit(f"{variant}: {run.counts.sent} of {args.n} sent")
                        row = {g: run.cpu.get(g, 0.0) / args.n * 1000 for g in GROUPS}
                        row["all"] = sum(row[g] for g in GROUPS)
                        row["rate"], row["steady"] = run.rate, run.steady_rate
                        row["busy"] = run.machine_busy / max(run.machine_total, 1e-9)
                        figures[variant].append(row)
                        print(f"  {variant:6} " + _line(row), flush=True)
        finally:
            os.environ.clear()
            os.environ.update(saved)
            sink.stop()
            redis_service.stop()
    print(f"load average after: {os.getloadavg()}")
    medians = {v: {k: statistics.median(r[k] for r in rows) for k in rows[0]}
               for v, rows in figures.items()}  # fmt: skip
    for variant, row in medians.items():
        print(f"median {variant:6} " + _line(row))
    ratios = {k: medians["after"][k] / medians["before"][k] for k in medians["after"]
              if medians["before"][k]}  # fmt: skip
    print("after/before: " + ", ".join(f"{k} {v:.3f}" for k, v in ratios.items()))
    return 0


def _line(row: dict[str, float]) -> str:
    cpu = ", ".join(f"{g.split(' ')[0]} {row[g]:.3f}" for g in GROUPS)
    return (
        f"{row['rate']:,.0f} msg/s end to end, {row['steady']:,.0f} steady; CPU ms/msg: {cpu}; "
        f"all {row['all']:.3f} (machine {100 * row['busy']:.0f}% busy)"
    )


if __name__ == "__main__":
    sys.exit(main())
