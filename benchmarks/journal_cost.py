"""What the result journal costs per message, alone and in the engine.

Run: ``python benchmarks/journal_cost.py [--calls 200000] [--n 10000] [--rounds 2]``
(``NEWSLETTER_DATABASE_URL=postgresql://…`` for the engine part on PostgreSQL,
as for benchmarks/dispatch.py).

1. The write alone, against a private redis-server on loopback: CPU and wall
   microseconds per ``RedisJournal.sent`` (one ``send`` system call on a
   ``CLIENT REPLY OFF`` connection), next to a plain redis-py ``HSET`` that
   waits for its reply, which is what the journal avoids.
2. The engine with and without the journal (``NEWSLETTER_RESULT_JOURNAL``),
   N messages each, the two alternating ``--rounds`` times on the same store
   and services (this machine's speed drifts; alternating spreads the drift
   over both), through benchmarks/dispatch_engine.py: messages per second
   and worker CPU per message; the ratio with/without is the figure to keep
   within 10%.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import redis
from dispatch_procs import SmtpSink, free_port, start_redis

from newsletter.config import reset_settings
from newsletter.dispatch.journal import RedisJournal


def write_cost(port: int, calls: int) -> dict[str, float]:
    """Microseconds per journal write and per waiting HSET (CPU and wall)."""
    url = f"redis://127.0.0.1:{port}/0"
    journal = RedisJournal(url)
    journal.sent(1, 0, "<warm-up@example.org>")
    cpu, wall = time.process_time(), time.perf_counter()
    for i in range(calls):
        journal.sent(1, i, f"<{i}.0123456789abcdef@newsletter.example.org>")
    journal_cpu = (time.process_time() - cpu) / calls * 1e6
    journal_wall = (time.perf_counter() - wall) / calls * 1e6
    journal.close()
    client = redis.Redis.from_url(url)
    count = max(calls // 10, 1000)
    cpu, wall = time.process_time(), time.perf_counter()
    for i in range(count):
        client.hset("newsletter:journal:2", str(i), f"<{i}.0123456789abcdef@example.org>")
    hset_cpu = (time.process_time() - cpu) / count * 1e6
    hset_wall = (time.perf_counter() - wall) / count * 1e6
    stored = client.hlen("newsletter:journal:1")
    client.close()
    if stored != calls:
        raise SystemExit(f"journal holds {stored} entries after {calls} writes")
    return {
        "journal_cpu_us": journal_cpu,
        "journal_wall_us": journal_wall,
        "hset_cpu_us": hset_cpu,
        "hset_wall_us": hset_wall,
    }


def engine_ab(n: int, rounds: int, folder: Path) -> dict[str, list[float]]:
    """Engine msg/s and worker ms CPU per message, journal on and off, alternating."""
    from dispatch_engine import run_engine
    from dispatch_store import fill_store, scratch_store

    configured = os.environ.get("NEWSLETTER_DATABASE_URL", "")
    figures: dict[str, list[float]] = {"on_mps": [], "off_mps": [], "on_cpu": [], "off_cpu": []}
    redis_port, sink_port = free_port(), free_port()
    redis_service = start_redis(redis_port, folder)
    sink = SmtpSink(sink_port)
    try:
        with scratch_store(folder, "journal", configured) as (url, kind):
            store = fill_store(url, kind, n)
            for _ in range(rounds):
                for mode in ("off", "on"):
                    os.environ["NEWSLETTER_RESULT_JOURNAL"] = "true" if mode == "on" else "false"
                    reset_settings()
                    run = run_engine(
                        store,
                        broker_url=f"redis://127.0.0.1:{redis_port}/0",
                        sink=sink,
                        redis_pid=redis_service.pid,
                        concurrency=os.cpu_count() or 2,
                        folder=folder,
                    )
                    if run.counts.sent != n:
                        raise SystemExit(f"journal {mode}: {run.counts.sent} of {n} sent")
                    figures[f"{mode}_mps"].append(n / run.seconds)
                    figures[f"{mode}_cpu"].append(run.cpu["workers"] / n * 1000)
                    rate, cpu = n / run.seconds, run.cpu["workers"] / n * 1000
                    print(f"  journal {mode}: {rate:,.0f} msg/s, {cpu:.3f} ms CPU/msg", flush=True)
    finally:
        os.environ.pop("NEWSLETTER_RESULT_JOURNAL", None)
        sink.stop()
        redis_service.stop()
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--n", type=int, default=10_000, help="messages per engine run")
    parser.add_argument("--rounds", type=int, default=2, help="engine runs per mode")
    parser.add_argument("--no-engine", action="store_true", help="only the write alone")
    args = parser.parse_args(argv)
    from dispatch_store import ensure_secret_key

    ensure_secret_key()
    with tempfile.TemporaryDirectory(prefix="journal-cost-") as tmp:
        folder = Path(tmp)
        port = free_port()
        service = start_redis(port, folder)
        try:
            cost = write_cost(port, args.calls)
        finally:
            service.stop()
        print(
            f"journal write: {cost['journal_cpu_us']:.2f} µs CPU, {cost['journal_wall_us']:.2f} µs "
            f"wall per message; a waiting HSET: {cost['hset_cpu_us']:.1f} µs CPU, "
            f"{cost['hset_wall_us']:.1f} µs wall"
        )
        if args.no_engine:
            return 0
        figures = engine_ab(args.n, args.rounds, folder)
    on, off = statistics.median(figures["on_mps"]), statistics.median(figures["off_mps"])
    cpu_on, cpu_off = statistics.median(figures["on_cpu"]), statistics.median(figures["off_cpu"])
    print(
        f"engine, median of {args.rounds}: journal on {on:,.0f} msg/s, off {off:,.0f} msg/s "
        f"(on/off {on / off:.3f}); worker CPU {cpu_on:.3f} vs {cpu_off:.3f} ms/msg "
        f"(+{(cpu_on - cpu_off) * 1000:.0f} µs)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
