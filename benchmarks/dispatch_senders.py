"""The references of the dispatch benchmark, each with P concurrent senders.

* floor: Postfix's ``smtp-source`` (C, event-driven, one process with P
  sessions) sending the engine's pre-built message bytes over persistent
  connections: the physical floor of this machine, sink and concurrency.
* ceiling (the smtplib reference): the same pre-built message bytes sent again and again over one
  persistent SMTP connection per process, nothing else done per message.
  No sender that talks SMTP with smtplib's ``sendmail`` can beat it here.
* transport ceiling: the same, over the engine's own ``SMTPTransport``, which
  pipelines (RFC 2920) where smtplib does not: the bound for the engine's
  transport, reported beside the ceiling the targets are set against.
* naive: what a sender without the engine's design does per recipient:
  Jinja2 + premailer (``render_edition``), signed links, a fresh
  ``email.message.EmailMessage`` with the .ics attachment, serialised, sent.

Processes are forked, connect and say EHLO, then start together at a
barrier; the rate is messages over the span from the first start to the last
finish (CLOCK_MONOTONIC is shared by all processes).
"""

from __future__ import annotations

import multiprocessing
import resource
import shutil
import smtplib
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

from naive_mime import email_message

from newsletter.config import Settings
from newsletter.content import Update
from newsletter.message import Recipient
from newsletter.parts import CalendarPart
from newsletter.render import render_edition
from newsletter.transports import OutgoingMessage, SMTPTransport

ENVELOPE_FROM = "updates@newsletter.example.org"
SEGMENTS = ("dcs", "lead-member", "workforce-lead")


@dataclass(frozen=True)
class Timed:
    """Messages sent by all processes, the wall span, and their CPU seconds."""

    messages: int
    seconds: float
    cpu_seconds: float

    @property
    def rate(self) -> float:
        """Messages per second."""
        return self.messages / self.seconds if self.seconds > 0 else 0.0


def smtp_source_binary() -> str | None:
    """Postfix's smtp-source, if installed (Debian: /usr/sbin, often not on PATH)."""
    found = shutil.which("smtp-source")
    if found is None and Path("/usr/sbin/smtp-source").exists():
        found = "/usr/sbin/smtp-source"
    return found


def floor(port: int, message: bytes, count: int, processes: int, folder: Path) -> Timed:
    """``smtp-source`` sends ``message`` ``count`` times over ``processes`` persistent sessions.

    smtp-source reads the message as lines and ends each with CRLF itself
    (dot-stuffing too), so the file holds it with bare LF.  The time is the
    process's whole run (its start-up is a millisecond); CPU is its own.
    """
    binary = smtp_source_binary()
    if binary is None:
        raise RuntimeError("smtp-source is not installed (Debian package postfix)")
    path = folder / "floor-message.eml"
    path.write_bytes(message.replace(b"\r\n", b"\n"))
    argv = [
        binary,
        "-d",  # one connection per session, kept for every message
        *("-s", str(processes), "-m", str(count), "-F", str(path)),
        *("-f", ENVELOPE_FROM, "-t", "reader@example.org", "-M", "bench.example.org"),
        f"127.0.0.1:{port}",
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.monotonic()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seconds = time.monotonic() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return Timed(count, seconds, cpu)


def _run_parallel(
    target: Callable[..., None], shares: Sequence[Sequence[Any]], extra: tuple[Any, ...]
) -> Timed:
    """Run ``target(share, *extra, barrier, results)`` in one forked process per share."""
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(len(shares))
    results: Any = context.Queue()
    processes = [
        context.Process(target=target, args=(share, *extra, barrier, results)) for share in shares
    ]
    for process in processes:
        process.start()
    reports = [results.get(timeout=3600) for _ in processes]
    for process in processes:
        process.join(30)
        if process.exitcode != 0:
            raise RuntimeError(f"a sender process ended with {process.exitcode}")
    began = min(r[0] for r in reports)
    ended = max(r[1] for r in reports)
    return Timed(sum(r[2] for r in reports), ended - began, sum(r[3] for r in reports))


def _connect(port: int) -> smtplib.SMTP:
    smtp = smtplib.SMTP("127.0.0.1", port, timeout=60)
    smtp.ehlo()
    return smtp


def _ceiling_process(
    share: Sequence[int], port: int, messages: Sequence[bytes], barrier: Barrier, results: Any
) -> None:
    smtp = _connect(port)
    barrier.wait()
    began, cpu = time.monotonic(), time.process_time()
    for i in share:
        smtp.sendmail(ENVELOPE_FROM, [f"reader{i}@example.org"], messages[i % len(messages)])
    ended = time.monotonic()
    results.put((began, ended, len(share), time.process_time() - cpu))
    smtp.quit()


def ceiling(port: int, messages: Sequence[bytes], count: int, processes: int) -> Timed:
    """Send ``count`` copies of the pre-built ``messages`` (cycled) from ``processes`` senders."""
    shares = [range(p, count, processes) for p in range(processes)]
    return _run_parallel(_ceiling_process, shares, (port, messages))


def _transport_ceiling_process(
    share: Sequence[int], port: int, messages: Sequence[bytes], barrier: Barrier, results: Any
) -> None:
    transport = SMTPTransport(f"smtp://127.0.0.1:{port}?timeout=60")
    transport.send(_outgoing(0, messages))  # connect and say EHLO before the start
    barrier.wait()
    began, cpu = time.monotonic(), time.process_time()
    for i in share:
        transport.send(_outgoing(i, messages))
    ended = time.monotonic()
    results.put((began, ended, len(share), time.process_time() - cpu))
    transport.close()


def _outgoing(i: int, messages: Sequence[bytes]) -> OutgoingMessage:
    return OutgoingMessage(
        ENVELOPE_FROM, (f"reader{i}@example.org",), messages[i % len(messages)], f"<{i}@bench>"
    )


def transport_ceiling(port: int, messages: Sequence[bytes], count: int, processes: int) -> Timed:
    """Like :func:`ceiling`, over the engine's own SMTPTransport (PIPELINING where offered).

    Each process also sends one warm-up message before the clock starts, so
    the sink receives ``count + processes`` messages.
    """
    shares = [range(p, count, processes) for p in range(processes)]
    return _run_parallel(_transport_ceiling_process, shares, (port, messages))


def naive_message(
    update: Update,
    segment: str,
    calendars: Sequence[CalendarPart],
    reader: Recipient,
    settings: Settings,
) -> bytes:
    """One recipient's message the naive way: render, replace, build MIME, serialise."""
    edition = render_edition(update, segment, settings=settings)
    return email_message(edition, calendars, reader, settings)


def _naive_process(
    share: Sequence[tuple[int, str, str]],
    port: int,
    update: Update,
    calendars: Sequence[CalendarPart],
    settings: Settings,
    barrier: Barrier,
    results: Any,
) -> None:
    smtp = _connect(port)
    barrier.wait()
    began, cpu = time.monotonic(), time.process_time()
    for subscriber_id, email, name in share:
        reader = Recipient.for_subscriber(
            email, name or None, subscriber_id, None, send_id=1, settings=settings
        )
        segment = SEGMENTS[subscriber_id % len(SEGMENTS)]
        data = naive_message(update, segment, calendars, reader, settings)
        smtp.sendmail(ENVELOPE_FROM, [email], data)
    ended = time.monotonic()
    results.put((began, ended, len(share), time.process_time() - cpu))
    smtp.quit()


def naive(
    port: int,
    update: Update,
    calendars: Sequence[CalendarPart],
    subscribers: Sequence[tuple[int, str, str]],
    processes: int,
    settings: Settings,
) -> Timed:
    """Send to ``subscribers`` the naive way from ``processes`` senders."""
    shares = [subscribers[p::processes] for p in range(processes)]
    return _run_parallel(_naive_process, shares, (port, update, calendars, settings))
