"""How many worker processes per machine: the engine's rate and CPU at several concurrencies.

Run: ``python benchmarks/concurrency.py [--n 10000] [--concurrency 1 2 4] [--rounds 2]``
(with ``NEWSLETTER_DATABASE_URL=postgresql://…`` for a scratch PostgreSQL
database; otherwise SQLite).  One store, one redis-server and one SMTP sink
serve every run; for each round it sends the same N subscribers once per
concurrency, in rotating order (so that the machine's drifting load falls on
each alike), through a fresh ``newsletter worker --concurrency P``, and
prints per run: messages per second (command launched to send finished),
steady rate (first to last message recorded), worker CPU milliseconds per
message and how busy the machine was.  At the end, the median rate of each P
relative to the first P listed.  docs/performance.md explains how to read
it to size a deployment.  Nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

from dispatch_engine import EngineRun, run_engine
from dispatch_procs import SmtpSink, free_port, start_redis
from dispatch_store import ensure_secret_key, fill_store, scratch_store


def steady_rate(run: EngineRun) -> float:
    """Messages per second between the first and the last message recorded."""
    first = run.timeline.get("first message recorded")
    last = run.timeline.get("last message recorded")
    if first is None or last is None or last <= first:
        return float("nan")
    return run.n / (last - first)


def postgres_cpu(run: EngineRun) -> float:
    """CPU seconds of the PostgreSQL processes the run counted (however it names them)."""
    return sum(seconds for name, seconds in run.cpu.items() if name.startswith("postgres"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    ensure_secret_key()
    configured = os.environ.get("NEWSLETTER_DATABASE_URL", "")
    print(f"load average before: {os.getloadavg()}, {os.cpu_count()} CPUs")
    runs: dict[int, list[EngineRun]] = {p: [] for p in args.concurrency}
    with tempfile.TemporaryDirectory(prefix="concurrency-") as tmp:
        folder = Path(tmp)
        with scratch_store(folder, "conc", configured) as (url, kind):
            store = fill_store(url, kind, args.n)
            redis_port, sink_port = free_port(), free_port()
            redis = start_redis(redis_port, folder)
            sink = SmtpSink(sink_port)
            try:
                for r in range(args.rounds):
                    shift = r % len(args.concurrency)
                    order = args.concurrency[shift:] + args.concurrency[:shift]
                    for p in order:
                        run = run_engine(
                            store,
                            broker_url=f"redis://127.0.0.1:{redis_port}/0",
                            sink=sink,
                            redis_pid=redis.pid,
                            concurrency=p,
                            folder=folder,
                        )
                        runs[p].append(run)
                        busy = 100 * run.machine_busy / max(run.machine_total, 1e-9)
                        print(
                            f"  round {r + 1} P={p}: {run.rate:7,.0f} msg/s end to end, "
                            f"{steady_rate(run):7,.0f} msg/s steady, worker CPU "
                            f"{1000 * run.cpu['workers'] / run.n:.3f} ms/msg, PostgreSQL "
                            f"{1000 * postgres_cpu(run) / run.n:.3f} ms/msg, "
                            f"machine {busy:.0f}% busy; {run.counts.sent:,} sent",
                            flush=True,
                        )
            finally:
                sink.stop()
                redis.stop()
    print(f"load average after: {os.getloadavg()}")
    base = statistics.median(r.rate for r in runs[args.concurrency[0]])
    for p, mine in runs.items():
        rate = statistics.median(r.rate for r in mine)
        steady = statistics.median(steady_rate(r) for r in mine)
        cpu = statistics.median(1000 * r.cpu["workers"] / r.n for r in mine)
        print(
            f"P={p}: median {rate:,.0f} msg/s end to end ({rate / base:.2f}× "
            f"P={args.concurrency[0]}), {steady:,.0f} steady, worker CPU {cpu:.3f} ms/msg"
        )


if __name__ == "__main__":
    main()
