"""Dispatch throughput and memory: the engine against the physical floor and the naive way.

Run: ``python benchmarks/dispatch.py [--n 10000] [--n 100000] [--concurrency P]``
(with ``NEWSLETTER_DATABASE_URL=postgresql://…`` to use PostgreSQL: a scratch
database is made on that server and dropped; otherwise SQLite in a temporary
folder).  For each N it fills a fresh store with N active subscribers across
the three role segments, starts its own redis-server and SMTP sink on free
loopback ports (``smtp-sink`` from Debian's postfix package, run without
``-c``, when installed), and measures, each with P concurrent senders
(default: one per CPU):

(f) floor: Postfix's ``smtp-source`` (C) sending the engine's own pre-built
    message bytes over P persistent sessions into the same sink: what this
    machine, sink and concurrency allow at all;
(a) smtplib reference: the same pre-built bytes sent with smtplib over
    persistent connections, measured before and after (c), keeping the
    higher rate (this machine's speed drifts between phases);
(a') the same pre-built bytes over the engine's own ``SMTPTransport``
    (RFC 2920 pipelining), printed so that (c) can be read knowing how much
    of it the transport alone explains;
(b) naive: Jinja2 + premailer + ``EmailMessage`` per recipient, sent the
    same way, on a sample of recipients (``--naive-sample``), rate extrapolated;
(c) engine: ``newsletter send`` through a real Celery worker (P processes)
    and Redis, from launching the command to the send's ``finished_at``
    (end to end), and between the first and the last delivery recorded
    (steady state), with the time to the first message.

The references send min(N, ``--reference-cap``) messages: their rate does not
depend on N (nothing is looked up per recipient), and 1,000,000 smtplib
messages would take longer than the engine run they frame.  The sink writes
nothing per message; what arrived is checked by the bytes it read from its
sockets (/proc/<pid>/io) against the bytes of the messages sent, and the
engine's count by the store (planned = sent = N).

It prints messages per second for each and the ratios to the floor, CPU
milliseconds per message per process group (/proc/<pid>/stat of each tree:
workers, the send command, this store's own PostgreSQL backends, Redis, the
sink), the workers' peak RSS, a third of the way through the time of
``newsletter sends show`` and of the console's send page, and with two or
more N the ratio of peak RSS between the last and the first.  The last line
is JSON.  Timings are printed, never asserted; the exit status is 1 only if
a count is wrong.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dispatch_senders
from dispatch_engine import EngineRun, run_engine
from dispatch_procs import (
    CpuMeter,
    Service,
    SmtpSink,
    free_port,
    machine_description,
    start_redis,
)
from dispatch_senders import Timed
from dispatch_store import (
    calendar_parts,
    ensure_secret_key,
    fill_store,
    first_subscribers,
    sample_messages,
    scratch_store,
    stored_update,
)

from newsletter.config import Settings
from newsletter.content import Update
from newsletter.message import Recipient

TARGET_VS_CEILING = 0.60
TARGET_VS_NAIVE = 10.0
TARGET_RSS_GROWTH = 1.15
# Bytes the sink reads per message beyond the message itself (envelope
# commands); the check allows this much either way, per message.
ENVELOPE_SLACK = 120


@dataclass
class Result:
    """Everything measured for one N."""

    n: int
    store_kind: str
    message_bytes: list[int]
    floor: Timed | None
    ceiling: Timed
    ceiling_sink_cpu: float
    transport_ceiling: Timed
    naive: Timed
    engine: EngineRun

    @property
    def ok(self) -> bool:
        """Whether every count added up: the sink read N messages' bytes, the send finished."""
        c = self.engine.counts
        return (
            bytes_match(self.engine.received_bytes, self.n, self.message_bytes)
            and self.engine.status == "finished"
            and c.sent == c.planned == self.n
        )

    @property
    def reference(self) -> Timed:
        """The floor when smtp-source is installed, else the smtplib reference."""
        return self.floor or self.ceiling

    def as_json(self) -> dict[str, Any]:
        """The figures of the final JSON line."""
        e = self.engine
        floor = self.reference.rate
        sent = max(e.counts.sent, 1)  # a PARTIAL run's CPU is per message it sent
        return {
            "n": self.n,
            "floor_mps": round(self.floor.rate, 1) if self.floor else None,
            "engine_steady_mps": round(e.steady_rate, 1),
            "engine_vs_floor": round(e.rate / floor, 3),
            "engine_steady_vs_floor": round(e.steady_rate / floor, 3),
            "first_message_s": round(e.first_message, 3),
            "cpu_ms_per_msg_by_group": {
                name: round(1000 * seconds / sent, 3) for name, seconds in e.cpu.items()
            },
            "cpu_ms_per_msg_all": round(1000 * sum(e.cpu.values()) / sent, 3),
            "probes_s": {name: round(v, 3) for name, v in e.probes.items()},
            "deliveries_gb_per_million": (
                round(e.deliveries_bytes / e.counts.planned * 1e6 / 1e9, 3)
                if e.deliveries_bytes and e.counts.planned
                else None
            ),
            "partial": e.status != "finished",
            "ceiling_mps": round(self.ceiling.rate, 1),
            "naive_mps": round(self.naive.rate, 1),
            "engine_mps": round(e.rate, 1),
            "engine_vs_ceiling": round(e.rate / self.ceiling.rate, 3),
            "engine_vs_naive": round(e.rate / self.naive.rate, 1),
            "cpu_ms_per_msg": round(1000 * e.cpu["workers"] / sent, 3),
            "worker_peak_rss_mb": round(e.worker_high_water_kb / 1024, 1),
            "transport_ceiling_mps": round(self.transport_ceiling.rate, 1),
            "engine_vs_transport_ceiling": round(e.rate / self.transport_ceiling.rate, 3),
        }


def bytes_match(got: int, count: int, sizes: list[int]) -> bool:
    """Whether ``got`` bytes are ``count`` messages of about ``sizes`` plus envelopes.

    Each message was sent at least as it is (dot-stuffing only adds), with a
    few commands; a message missing would take ~25 KB away.
    """
    low = count * (min(sizes) - ENVELOPE_SLACK)
    high = count * (max(sizes) + ENVELOPE_SLACK)
    return low <= got <= high


def naive_sizes(
    update: Update, sample: list[tuple[int, str, str]], settings: Settings
) -> list[int]:
    """Sizes of the naive way's messages for the first recipients of each segment."""
    sizes = []
    for subscriber_id, email, name in sample[: len(dispatch_senders.SEGMENTS)]:
        reader = Recipient.for_subscriber(
            email, name or None, subscriber_id, None, send_id=1, settings=settings
        )
        segment = dispatch_senders.SEGMENTS[subscriber_id % len(dispatch_senders.SEGMENTS)]
        message = dispatch_senders.naive_message(
            update, segment, calendar_parts(update), reader, settings
        )
        sizes.append(len(message))
    return sizes


def check(sink: SmtpSink, before: int, count: int, sizes: list[int], what: str) -> None:
    """Raise unless the sink read ``count`` messages' worth of bytes since ``before``."""
    got = sink.wait_for_bytes(before + count * (min(sizes) - ENVELOPE_SLACK)) - before
    if not bytes_match(got, count, sizes):
        raise RuntimeError(
            f"{what}: the sink read {got:,} bytes, not {count:,} messages of "
            f"{min(sizes):,}-{max(sizes):,} bytes"
        )


def measure(
    n: int,
    *,
    configured_url: str,
    folder: Path,
    sink: SmtpSink,
    redis: Service,
    redis_port: int,
    concurrency: int,
    naive_sample: int,
    reference_cap: int,
    time_limit: float | None,
    profile_dir: Path | None,
) -> Result:
    """Fill a fresh store with ``n`` subscribers and measure (f), (a), (a'), (b) and (c)."""
    with scratch_store(folder, f"n{n}", configured_url) as (url, kind):
        began = time.monotonic()
        store = fill_store(url, kind, n)
        print(f"\n== N = {n:,} subscribers ({kind}; filled in {time.monotonic() - began:.1f} s)")
        settings = Settings()
        messages = sample_messages(url, store.update_id, settings)
        sizes = [len(m) for m in messages]
        print(f"   message size per segment edition: {', '.join(f'{s:,}' for s in sizes)} bytes")
        refs = min(n, reference_cap)
        if refs < n:
            print(f"   references send {refs:,} messages (--reference-cap), the engine {n:,}")

        floor = _floor(sink, messages, refs, concurrency, folder)
        first, sink_share = _ceiling(sink, messages, refs, concurrency, "before the engine")
        transport = _transport_ceiling(sink, messages, refs, concurrency)
        update = stored_update(url, store.update_id)
        sample = first_subscribers(url, min(naive_sample, n))
        before = sink.bytes_read
        naive = dispatch_senders.naive(
            sink.port, update, calendar_parts(update), sample, concurrency, settings
        )
        check(sink, before, len(sample), naive_sizes(update, sample, settings), "naive")
        print(
            f"(b) naive:   {naive.rate:>9,.0f} msg/s  (measured on {len(sample):,} recipients in "
            f"{naive.seconds:.2f} s, extrapolated; {1000 * naive.cpu_seconds / len(sample):.1f} "
            "CPU ms/msg)"
        )

        engine = run_engine(
            store,
            broker_url=f"redis://127.0.0.1:{redis_port}/0",
            sink=sink,
            redis_pid=redis.pid,
            concurrency=concurrency,
            folder=folder,
            profile_dir=profile_dir,
            message_size=sum(sizes) // len(sizes),
            time_limit=time_limit,
        )
        # This machine's speed drifts between phases; the smtplib reference is
        # measured on both sides of the engine and the higher rate is kept.
        second, second_share = _ceiling(sink, messages, refs, concurrency, "after the engine")
        ceiling, sink_share = max(
            (first, sink_share), (second, second_share), key=lambda c: c[0].rate
        )
        print(f"    smtplib reference used: {ceiling.rate:,.0f} msg/s (the higher of the two)")
        result = Result(n, kind, sizes, floor, ceiling, sink_share, transport, naive, engine)
        print_engine(result, concurrency)
        return result


def _floor(
    sink: SmtpSink, messages: list[bytes], n: int, concurrency: int, folder: Path
) -> Timed | None:
    """Measure (f) once and print it; None when smtp-source is not installed."""
    if dispatch_senders.smtp_source_binary() is None:
        print("(f) floor: smtp-source is not installed (Debian package postfix): not measured")
        return None
    sink_cpu = CpuMeter({"sink": lambda: [sink.pid]})
    before = sink.bytes_read
    sink_cpu.start()
    timed = dispatch_senders.floor(sink.port, messages[0], n, concurrency, folder)
    sink_cpu.stop()
    check(sink, before, n, [len(messages[0])], "floor")
    print(
        f"(f) floor:   {timed.rate:>9,.0f} msg/s  ({n:,} pre-built messages in "
        f"{timed.seconds:.2f} s by smtp-source, {concurrency} sessions; CPU per message: "
        f"sender {1000 * timed.cpu_seconds / n:.3f} ms, sink "
        f"{1000 * sink_cpu.used['sink'] / n:.3f} ms)"
    )
    return timed


def _ceiling(
    sink: SmtpSink, messages: list[bytes], n: int, concurrency: int, when: str
) -> tuple[Timed, float]:
    """Measure (a) once and print it; returns the timing and the sink's share of a core."""
    sink_cpu = CpuMeter({"sink": lambda: [sink.pid]})
    before = sink.bytes_read
    sink_cpu.start()
    ceiling = dispatch_senders.ceiling(sink.port, messages, n, concurrency)
    sink_cpu.stop()
    check(sink, before, n, [len(m) for m in messages], "smtplib reference")
    sink_share = sink_cpu.used["sink"] / ceiling.seconds
    print(
        f"(a) smtplib, {when}: {ceiling.rate:>9,.0f} msg/s  ({n:,} pre-built messages in "
        f"{ceiling.seconds:.2f} s by {concurrency} smtplib processes; "
        f"{1000 * ceiling.cpu_seconds / n:.3f} sender CPU ms/msg; "
        f"sink {1000 * sink_cpu.used['sink'] / n:.3f} CPU ms/msg)"
    )
    return ceiling, sink_share


def _transport_ceiling(sink: SmtpSink, messages: list[bytes], n: int, concurrency: int) -> Timed:
    """Measure (a') once and print it: (a) over the engine's own pipelining transport."""
    before = sink.bytes_read
    timed = dispatch_senders.transport_ceiling(sink.port, messages, n, concurrency)
    check(sink, before, n + concurrency, [len(m) for m in messages], "transport reference")
    print(
        f"(a') the engine's SMTPTransport: {timed.rate:,.0f} msg/s  ({n:,} "
        f"pre-built messages in {timed.seconds:.2f} s by {concurrency} processes, "
        f"PIPELINING; {1000 * timed.cpu_seconds / n:.3f} sender CPU ms/msg)"
    )
    return timed


def print_engine(result: Result, concurrency: int) -> None:
    """The engine's figures, its timeline, where the CPU went, and the ratios."""
    e, n = result.engine, result.n
    c = e.counts
    verdict = "OK" if result.ok else "MISMATCH"
    if e.status != "finished":
        print(f"(c) PARTIAL: the send was {e.status} before the end; rates are of what was sent")
    print(
        f"(c) engine:  {e.rate:>9,.0f} msg/s end to end  ({c.sent:,} messages in "
        f"{e.seconds:.2f} s, `newsletter send` to send finished; "
        f"sink read {e.received_bytes:,} bytes; "
        f"send {e.status}: planned {c.planned}, sent {c.sent}, failed {c.failed}, "
        f"skipped {c.skipped}, pending {c.pending}: {verdict})"
    )
    print(
        f"             {e.steady_rate:>9,.0f} msg/s steady (first to last message recorded); "
        f"first message {e.first_message:.2f} s after the command"
    )
    print(
        "    timeline (s after the command was launched): "
        + ", ".join(f"{label} {seconds:.2f}" for label, seconds in e.timeline.items())
    )
    total, sent = sum(e.cpu.values()), max(c.sent, 1)
    print(
        "    CPU ms per message sent: "
        + ", ".join(f"{name} {1000 * seconds / sent:.3f}" for name, seconds in e.cpu.items())
        + f"; all {1000 * total / sent:.3f}"
        + ("" if c.sent == n else " (PARTIAL: includes planning all N)")
    )
    cores = e.machine_total / e.seconds if e.seconds else 0.0
    busy = 100 * e.machine_busy / max(e.machine_total, 1e-9)
    print(f"    (whole machine, every tenant: {busy:.0f}% busy of {cores:.0f} cores during (c))")
    hwm = ", ".join(f"{kb / 1024:.1f}" for kb in e.high_water_kb.values())
    print(
        f"    worker peak RSS: {e.worker_high_water_kb / 1024:.1f} MB (sum of VmHWM of "
        f"{len(e.high_water_kb)} processes: {hwm} MB); sampled peak of summed VmRSS "
        f"{e.peak_rss_kb / 1024:.1f} MB"
    )
    if e.deliveries_bytes is not None:
        print(
            f"    deliveries table with indexes: {e.deliveries_bytes / 1e6:,.1f} MB, "
            f"{e.deliveries_bytes / e.counts.planned * 1e6 / 1e9:,.2f} GB per million deliveries"
        )
    if e.probes:
        print(
            "    under load (a third sent): "
            + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in e.probes.items())
        )
    if result.floor is not None:
        floor = result.floor.rate
        print(
            f"    vs the C floor: end to end {e.rate / floor:.2f}, "
            f"steady {e.steady_rate / floor:.2f}; smtplib reference / floor "
            f"{result.ceiling.rate / floor:.2f}; "
            f"engine's transport / floor {result.transport_ceiling.rate / floor:.2f}"
        )
    vs_ceiling = e.rate / result.ceiling.rate
    vs_naive = e.rate / result.naive.rate
    met = {True: "met", False: "NOT met"}
    print(
        f"    (c)/(a) = {vs_ceiling:.2f}  (target >= {TARGET_VS_CEILING:.2f}: "
        f"{met[vs_ceiling >= TARGET_VS_CEILING]});  (c)/(b) = {vs_naive:.1f}x  "
        f"(target >= {TARGET_VS_NAIVE:.0f}x: {met[vs_naive >= TARGET_VS_NAIVE]})"
    )
    if e.database_profile:
        print("    PostgreSQL statements seen running (% of 20 ms samples of pg_stat_activity):")
        for statement, share in e.database_profile:
            print(f"      {share:5.1f}%  {statement}")
    if e.profile:
        print("    py-spy profile of the worker tree (% of busy samples, inclusive / self):")
        for name, inclusive, own in e.profile:
            print(f"      {inclusive:5.1f}% {own:5.1f}%  {name}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark for every ``--n``; print the figures and one JSON line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--n", type=int, action="append", help="subscribers (repeat; default 20000)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=os.cpu_count() or 2, help="senders and workers"
    )
    parser.add_argument(
        "--naive-sample", type=int, default=400, help="recipients the naive way is timed on"
    )
    parser.add_argument(
        "--reference-cap",
        type=int,
        default=100_000,
        help="messages the references (f), (a), (a') send at most",
    )
    parser.add_argument(
        "--engine-time-limit",
        type=float,
        default=None,
        help="cancel the engine's send after this many seconds (a PARTIAL run, reported so)",
    )
    parser.add_argument(
        "--profile", type=Path, default=None, help="record the workers with py-spy into DIR"
    )
    args = parser.parse_args(argv)
    ensure_secret_key()
    # SIGTERM (a CI timeout, `kill`) ends the run through the finally blocks:
    # services stopped, scratch databases dropped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    counts: list[int] = args.n or [20_000]
    configured = os.environ.get("NEWSLETTER_DATABASE_URL", "")
    print(f"machine: {machine_description()}")
    print(
        f"concurrency: {args.concurrency} smtp-source sessions for (f), {args.concurrency} "
        f"sender processes for (a), (a') and (b), {args.concurrency} Celery worker processes "
        "for (c)"
    )
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="dispatch-bench-") as tmp:
        folder = Path(tmp)
        redis: Service | None = None
        sink: SmtpSink | None = None
        try:
            redis_port = free_port()
            redis = start_redis(redis_port, folder)
            sink = SmtpSink(free_port())
            print(
                f"redis-server on 127.0.0.1:{redis_port}; SMTP sink on 127.0.0.1:{sink.port}: "
                f"{sink.kind}"
            )
            for n in counts:
                results.append(
                    measure(
                        n,
                        configured_url=configured,
                        folder=folder,
                        sink=sink,
                        redis=redis,
                        redis_port=redis_port,
                        concurrency=args.concurrency,
                        naive_sample=args.naive_sample,
                        reference_cap=args.reference_cap,
                        time_limit=args.engine_time_limit,
                        profile_dir=args.profile,
                    )
                )
        finally:
            for service in (sink, redis):
                if service is not None:
                    service.stop()
            if configured:
                os.environ["NEWSLETTER_DATABASE_URL"] = configured
    growth = None
    if len(results) >= 2:
        first, last = results[0], results[-1]
        growth = last.engine.worker_high_water_kb / first.engine.worker_high_water_kb
        print(
            f"\nworker peak RSS {first.n:,} -> {last.n:,} subscribers: "
            f"{first.engine.worker_high_water_kb / 1024:.1f} -> "
            f"{last.engine.worker_high_water_kb / 1024:.1f} MB, ratio {growth:.3f} "
            f"({100 * (growth - 1):+.1f}%; target <= {100 * (TARGET_RSS_GROWTH - 1):.0f}%: "
            f"{'met' if growth <= TARGET_RSS_GROWTH else 'NOT met'})"
        )
    summary = results[-1].as_json()
    summary["rss_growth"] = None if growth is None else round(growth, 3)
    if len(results) >= 2:
        summary["runs"] = [r.as_json() for r in results]
    print(json.dumps(summary))
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
