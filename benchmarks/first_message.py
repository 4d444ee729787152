"""Time to first message: from launching ``newsletter send`` to the sink's first 250.

Run: ``python benchmarks/first_message.py [--n 10000] [--rounds 2] [--before REF]``
(with ``NEWSLETTER_DATABASE_URL=postgresql://…``: a scratch database is made on
that server and dropped; otherwise SQLite in a temporary folder).

It fills a fresh store with N subscribers, starts its own redis-server and
an SMTP sink on free loopback ports (an asyncio sink in this process, which
notes the moment it answers 250 to the first message's final dot), and for
each variant and round starts a fresh ``newsletter worker`` (Celery,
``--concurrency`` processes), launches ``newsletter send UPDATE --segment …``
to the three role segments, and notes when the sink accepted its first message.  The send is then
cancelled (only its start is of interest) and the workers are stopped.

Variants, measured alternately in the same run so that the machine's load
falls on both alike:

- ``after``: this checkout;
- ``before``: the code of git ``REF`` (default ``main``), exported with
  ``git archive`` to a temporary folder and put first on ``PYTHONPATH``
  for the command and its workers (same interpreter, same packages, same store).

Baselines printed with them: a bare ``python -c pass`` and ``newsletter --help``
of each variant.  Per round it prints the wall-clock moments (send row
created, planning started, first message at the sink, command exited) and
the command's own CPU seconds; at the end the medians and the after/before
ratios.  The machine's load average is printed before and after: on a shared
machine read the ratios, not the absolute times.  Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path

from dispatch_engine import newsletter_command, start_worker
from dispatch_procs import Service, free_port, start_redis
from dispatch_store import SEGMENTS, ensure_secret_key, fill_store, scratch_store
from redis import Redis
from sqlalchemy import select

from newsletter.db import engine_for, session_scope
from newsletter.models import Send

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Round:
    """One send's start, seconds after the command was launched."""

    variant: str
    created: float
    planning: float
    first_message: float
    command_exit: float
    command_cpu: float


class FirstMessageSink:
    """An SMTP sink on 127.0.0.1 (a thread of this process) that times accepted messages.

    It speaks just enough ESMTP for the engine's transport (EHLO with
    PIPELINING, MAIL, RCPT, DATA, RSET, NOOP, QUIT) and keeps nothing;
    :attr:`accepted` lists the ``time.perf_counter()`` of each 250 after DATA.
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.accepted: list[float] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="smtp-sink", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the SMTP sink did not start")

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._session, "127.0.0.1", self.port, limit=1 << 24)
        )
        self._ready.set()
        self._loop.run_forever()
        server.close()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 first-message-sink ESMTP\r\n")
        try:
            while line := await reader.readline():
                verb = line[:4].upper()
                if verb == b"EHLO":
                    writer.write(b"250-first-message-sink\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
                elif verb == b"DATA":
                    writer.write(b"354 go ahead\r\n")
                    await reader.readuntil(b"\r\n.\r\n")
                    self.accepted.append(time.perf_counter())
                    writer.write(b"250 2.0.0 queued\r\n")
                elif verb == b"QUIT":
                    writer.write(b"221 bye\r\n")
                    break
                else:
                    writer.write(b"250 ok\r\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    def stop(self) -> None:
        """Stop serving."""
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def export_tree(ref: str, folder: Path) -> Path:
    """The files of git ``ref`` written under ``folder`` (no change to the repository)."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", ref, "newsletter", "workers",
         "templates"],
        check=True,
        capture_output=True,
    ).stdout  # fmt: skip
    target = folder / "before"
    target.mkdir()
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
    # templates/ sits beside the package in a checkout, as newsletter.paths expects.
    return target


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of running ``argv`` to completion."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, env=env, check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def one_round(
    variant: str,
    env: dict[str, str],
    update_id: int,
    sink: FirstMessageSink,
    folder: Path,
    p: int,
) -> Round:
    """Start a worker, launch the send, wait for the first message, cancel, stop."""
    worker: Service = start_worker(env, p, folder / f"worker-{variant}-{time.time_ns()}.log")
    try:
        seen = len(sink.accepted)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        launched_at = datetime.now(UTC)
        launched = time.perf_counter()
        command = subprocess.Popen(
            [*newsletter_command(), "send", str(update_id), "--yes",
             *(a for s in SEGMENTS for a in ("--segment", s))],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        first = exited = None
        deadline = launched + 300
        while first is None or exited is None:
            now = time.perf_counter()
            if first is None and len(sink.accepted) > seen:
                first = sink.accepted[seen] - launched
            if exited is None and command.poll() is not None:
                exited = now - launched
                if command.returncode != 0:  # no message will come: say why at once
                    break
            if now > deadline:
                raise TimeoutError(f"{variant}: no message after 300 s")
            time.sleep(0.002)
        out, err = command.communicate()
        if command.returncode != 0 or first is None or exited is None:
            raise RuntimeError(f"{variant}: newsletter send failed: {err.decode()[-2000:]}")
        used = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (used.ru_utime + used.ru_stime) - (children.ru_utime + children.ru_stime)
        send_id = int(out.split()[0])
        subprocess.run(
            [*newsletter_command(), "sends", "cancel", str(send_id)],
            env=env,
            check=True,
            capture_output=True,
        )
        with session_scope(engine_for(env["NEWSLETTER_DATABASE_URL"])) as session:
            send = session.scalars(select(Send).where(Send.id == send_id)).one()
            created = (send.created_at.replace(tzinfo=UTC) - launched_at).total_seconds()
            started = send.started_at
            planning = (
                (started.replace(tzinfo=UTC) - launched_at).total_seconds()
                if started is not None
                else float("nan")
            )
    finally:
        worker.stop()
        # Batches of the cancelled send left on the broker would delay the next round.
        Redis.from_url(env["NEWSLETTER_BROKER_URL"]).flushall()
    return Round(variant, created, planning, first, exited, cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="subscribers (default 10,000)")
    parser.add_argument("--rounds", type=int, default=2, help="sends per variant (default 2)")
    parser.add_argument("--before", default="main", help="git ref of the baseline code")
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes")
    args = parser.parse_args()
    ensure_secret_key()

    configured = os.environ.get("NEWSLETTER_DATABASE_URL", "")
    print(f"load average before: {os.getloadavg()}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="first-message-") as tmp:
        folder = Path(tmp)
        before_tree = export_tree(args.before, folder)
        with scratch_store(folder, "first", configured) as (url, kind):
            t = time.perf_counter()
            store = fill_store(url, kind, args.n)
            filled = time.perf_counter() - t
            print(f"{kind} store with {args.n:,} subscribers filled in {filled:.0f} s")
            redis_port, sink_port = free_port(), free_port()
            redis = start_redis(redis_port, folder)
            sink = FirstMessageSink(sink_port)
            base = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")} | {
                "NEWSLETTER_DATABASE_URL": url,
                "NEWSLETTER_BROKER_URL": f"redis://127.0.0.1:{redis_port}/0",
                "NEWSLETTER_SMTP_URL": f"smtp://127.0.0.1:{sink_port}",
                "NEWSLETTER_SECRET_KEY": os.environ["NEWSLETTER_SECRET_KEY"],
            }
            envs = {
                "after": base,
                "before": base
                | {"PYTHONPATH": os.pathsep.join(filter(None, [str(before_tree),
                                                               os.environ.get("PYTHONPATH")]))},
            }  # fmt: skip
            try:
                starts: dict[str, list[tuple[float, float]]] = {"python": []}
                for variant in envs:
                    starts[f"{variant} --help"] = []
                rounds: list[Round] = []
                for r in range(args.rounds):
                    starts["python"].append(timed([sys.executable, "-c", "pass"], base))
                    for variant in ("before", "after") if r % 2 == 0 else ("after", "before"):
                        env = envs[variant]
                        starts[f"{variant} --help"].append(
                            timed([*newsletter_command(), "--help"], env)
                        )
                        result = one_round(
                            variant, env, store.update_id, sink, folder, args.concurrency
                        )
                        rounds.append(result)
                        print(
                            f"  round {r + 1} {variant:>6}: row {result.created:5.2f} s, "
                            f"planning {result.planning:5.2f} s, first message "
                            f"{result.first_message:5.2f} s, command exited "
                            f"{result.command_exit:5.2f} s, command CPU {result.command_cpu:.2f} s",
                            flush=True,
                        )
            finally:
                sink.stop()
                redis.stop()
    print(f"load average after: {os.getloadavg()}")
    print("\nmedians (wall seconds; CPU seconds of the command itself):")
    for name, values in starts.items():
        wall = statistics.median(v[0] for v in values)
        cpu = statistics.median(v[1] for v in values)
        print(f"  {name:<15} start: {wall:5.2f} s wall, {cpu:5.2f} s CPU")
    med: dict[str, dict[str, float]] = {}
    for variant in envs:
        mine = [x for x in rounds if x.variant == variant]
        med[variant] = {
            key: statistics.median(getattr(x, key) for x in mine)
            for key in ("created", "planning", "first_message", "command_exit", "command_cpu")
        }
        m = med[variant]
        print(
            f"  {variant:<15} send: row {m['created']:.2f}, planning {m['planning']:.2f}, "
            f"first message {m['first_message']:.2f}, exit {m['command_exit']:.2f} s; "
            f"command CPU {m['command_cpu']:.2f} s"
        )
    python = statistics.median(v[0] for v in starts["python"])
    for key, label in (
        ("first_message", "first message"),
        ("command_cpu", "send command CPU"),
        ("planning", "launch to planning"),
    ):
        ratio = med["after"][key] / med["before"][key] if med["before"][key] else float("nan")
        print(f"after/before {label}: {ratio:.2f}")
    print(
        "first message in bare interpreter starts: "
        f"before {med['before']['first_message'] / python:.1f}, "
        f"after {med['after']['first_message'] / python:.1f}"
    )


if __name__ == "__main__":
    main()
