"""``newsletter send``, ``newsletter invite`` and ``newsletter sends …``."""

from __future__ import annotations

import sys
import time
from datetime import datetime
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from newsletter.cli.common import (
    confirm,
    console,
    err_console,
    fail,
    print_json,
    print_table,
    store,
    user_errors,
)

if TYPE_CHECKING:
    from rich.progress import Progress

    from newsletter.send_review import SendReview

# What ``sends recipients --status`` accepts: newsletter.delivery_report.FILTERS,
# written out so that the help does not load the store (tests/test_startup.py
# checks the two agree).
RECIPIENT_FILTERS = (
    "sent, failed, skipped, retrying, waiting, bounced, complained, unsubscribed, not_delivered"
)

app = typer.Typer(help="Sends: follow and control them.", no_args_is_help=True)


def run_embedded_if_needed(send_id: int, *, show_progress: bool = True) -> None:
    """With no broker, run the send's tasks here and now (the embedded default)."""
    from newsletter.config import get_settings

    if get_settings().broker_url:
        return
    from newsletter import sends
    from newsletter.db import session_scope
    from newsletter.dispatch.embedded import run_until_idle
    from newsletter.models import utcnow

    with store() as session:
        send = sends.get_send(session, send_id)
        if send.status != sends.SCHEDULED or (
            send.scheduled_at is not None and send.scheduled_at > utcnow()
        ):
            return
    if show_progress:
        with _progress() as progress:
            task = progress.add_task(f"send {send_id}", total=None)

            def advance(_: str) -> None:
                with session_scope() as s:
                    c = sends.counts(s, send_id)
                progress.update(task, total=c.planned, completed=c.planned - c.pending)

            run_until_idle(advance)
    else:
        run_until_idle()


def start_and_report(send_id: int) -> None:
    """Wake the workers for a new send (or run it here without a broker), then summarise."""
    from newsletter.dispatch import control

    with user_errors():
        control.start_if_due(send_id)
    run_embedded_if_needed(send_id)
    _summary(send_id)


def _progress() -> Progress:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def send_command(
    update_id: int,
    segment: list[str] = typer.Option(..., "--segment", help="Repeat; first listed wins."),
    at: str | None = typer.Option(None, "--at", help='UK time, e.g. "2026-12-01 09:00".'),
    subject: str | None = typer.Option(None, "--subject"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the review; send nothing."),
    test_to: list[str] | None = typer.Option(
        None, "--test-to", help="Send test copies there only (repeat, or separate by commas)."
    ),
    yes: bool = typer.Option(False, "--yes", help="Do not ask (needed without a terminal)."),
    json_output: bool = typer.Option(False, "--json", help="With --dry-run: the review as JSON."),
) -> None:
    """Send an update to segments now or at a UK time, after a review; prints the send id.

    The review (editions, subjects, recipients per segment, UK time) is shown
    and must be confirmed on a terminal; scripts pass --yes.
    """
    from newsletter import send_review, sends

    with user_errors():
        when = sends.parse_uk_time(at) if at else None
    if test_to:
        _test_copies(update_id, segment[0], test_to, subject)
        return
    with store() as session:
        review = send_review.review(session, update_id, segment, at=when, subject=subject)
    if dry_run:
        if json_output:
            print_json(review.to_json())
        else:
            print_review(review, title="Dry run", out=console)
            console.print("Dry run: nothing is sent.")
        return
    print_review(review)
    confirm(f"Send {review.summary()}?", yes=yes)
    with store() as session:
        # A send due now is rendered by the (warm) worker that plans it, a later
        # one here (sends.create_send says why).
        send = sends.create_send(
            session,
            update_id=update_id,
            segments=segment,
            at=when,
            subject=subject,
            render=when is not None,
        )
        send_id = send.id
    typer.echo(str(send_id))
    start_and_report(send_id)


def _test_copies(update_id: int, edition: str, addresses: list[str], subject: str | None) -> None:
    from newsletter import send_review
    from newsletter.single_message import send_test_copy

    with user_errors():
        wanted = send_review.test_addresses(addresses)
    with store() as session:
        for address in wanted:
            message_id = send_test_copy(session, update_id, edition, address, subject=subject)
            console.print(f"Test copy ({edition} edition) sent to {address}: {message_id}")


def print_review(review: SendReview, *, title: str = "Review", out: Console = err_console) -> None:
    """The review as a table (to stderr by default: stdout carries the send id)."""
    table = Table(title=f"{title}: {review.title}, {review.when}")
    table.add_column("segment")
    table.add_column("edition subject")
    table.add_column("recipients", justify="right")
    for edition in review.editions:
        table.add_row(edition.segment, edition.subject, str(edition.recipients))
    table.add_row("total (each person once)", "", str(review.total))
    if out is console:
        print_table(table)
    else:
        out.print(table)


def invite_command(
    event_id: int,
    segment: list[str] = typer.Option(..., "--segment"),
    at: str | None = typer.Option(None, "--at", help="UK time."),
    subject: str | None = typer.Option(None, "--subject"),
    yes: bool = typer.Option(False, "--yes", help="Do not ask (needed without a terminal)."),
) -> None:
    """Send an invitation (METHOD:REQUEST, recipient as ATTENDEE) for an event, after a review."""
    from newsletter import send_review, sends

    with user_errors():
        when = send_review.check_time(sends.parse_uk_time(at) if at else None)
    with store() as session:
        from newsletter.events.queries import get_event

        event = get_event(session, event_id)
        update_id = event.update_id
        title = event.title
        review = send_review.review(session, update_id, segment, at=when)
    print_review(review, title=f"Invitation to {title}")
    confirm(f"Send the invitation to {title} to {review.total} people, {review.when}?", yes=yes)
    with store() as session:
        send = sends.create_send(
            session,
            update_id=update_id,
            event_id=event_id,
            kind="invitation",
            segments=segment,
            at=when,
            subject=subject,
            render=when is not None,
        )
        send_id = send.id
    typer.echo(str(send_id))
    start_and_report(send_id)


def _summary(send_id: int) -> None:

    from newsletter import sends
    from newsletter.display import uk_time_iso

    with store() as session:
        data = sends.to_json(session, sends.get_send(session, send_id))
    console.print(
        f"Send {send_id} is {data['status']}: planned {data['planned']}, sent {data['sent']}, "
        f"failed {data['failed']}, skipped {data['skipped']}, pending {data['pending']}."
    )
    if data["status"] == "scheduled":
        when = uk_time_iso(data["scheduled_at"])
        console.print(f"Scheduled for {when}; workers or beat will start it.")


@app.command("list")
def list_command(json_output: bool = typer.Option(False, "--json")) -> None:
    """The most recent sends."""
    from newsletter import sends
    from newsletter.display import uk_time_iso

    with store() as session:
        rows = [sends.to_json(session, s) for s in sends.list_sends(session)]
    if json_output:
        print_json(rows)
        return
    table = Table(title="Sends")
    for column in ("id", "kind", "update", "segments", "status", "planned", "sent", "failed",
                   "skipped", "pending", "scheduled"):  # fmt: skip
        table.add_column(column)
    for r in rows:
        table.add_row(
            str(r["id"]), r["kind"], str(r["update_id"] or ""), ", ".join(r["segments"]),
            r["status"], *(str(r[k]) for k in ("planned", "sent", "failed", "skipped", "pending")),
            uk_time_iso(r["scheduled_at"]),
        )  # fmt: skip
    print_table(table)


@app.command("show")
def show_command(send_id: int, json_output: bool = typer.Option(False, "--json")) -> None:
    """One send's state, counts and why recipients did not get it.

    --json: id, status, planned, sent, failed, skipped, pending, reason (why it
    paused or was cancelled), last_error (the latest delivery error, or null)
    and ``reasons`` (each ``{reason, count, status}``).
    """
    from newsletter import delivery_report, sends
    from newsletter.display import uk_time_iso

    with store() as session:
        data = sends.to_json(session, sends.get_send(session, send_id))
        why = delivery_report.reasons(session, send_id)
    if json_output:
        keys = ("id", "status", "planned", "sent", "failed", "skipped", "pending", "reason",
                "last_error")  # fmt: skip
        print_json(
            {
                **{k: data[k] for k in keys},
                "reasons": [r.to_json() for r in why],
            }
        )
        return
    for key, value in data.items():
        if key.endswith("_at"):
            value = uk_time_iso(value, empty="not yet")
        console.print(f"{key:>13}: {value}", markup=False)
    console.print(f"{'not received':>13}: {delivery_report.reasons_text(why) or 'nobody'}")


@app.command("recipients")
def recipients_command(
    send_id: int,
    status: str = typer.Option("", "--status", help=f"Only these: {RECIPIENT_FILTERS}."),
    search: str = typer.Option("", "--search", help="Only addresses or names containing this."),
    json_output: bool = typer.Option(False, "--json", help="One JSON array of recipients."),
    csv_output: bool = typer.Option(False, "--csv", help="CSV, as the console downloads it."),
) -> None:
    """Every recipient of a send: status, reason in words, the server's reply, tries, times."""
    from newsletter import delivery_report, sends
    from newsletter.display import uk_time

    with store() as session:
        sends.get_send(session, send_id)
        rows = list(delivery_report.iter_rows(session, send_id, status=status, search=search))
    if json_output:
        print_json([r.to_json() for r in rows])
        return
    if csv_output:
        delivery_report.write_csv(iter(rows), sys.stdout)
        return
    table = Table(title=f"Recipients of send {send_id} ({len(rows)})")
    for column in ("email", "segment", "status", "reason", "smtp reply", "tries", "when"):
        table.add_column(column)
    for r in rows:
        when = r.next_attempt_at if r.status == "retrying" else r.finished_at
        table.add_row(r.email, r.segment, r.status, r.reason, r.raw, str(r.attempts), uk_time(when))
    print_table(table)


@app.command("send-now")
def send_now_command(
    send_id: int,
    yes: bool = typer.Option(False, "--yes", help="Do not ask (needed without a terminal)."),
) -> None:
    """Send a scheduled send now instead of at its time, after a review."""
    from newsletter.dispatch import control

    _review_existing(send_id, None, yes=yes, verb="Send now")
    with user_errors():
        control.send_now(send_id)
    run_embedded_if_needed(send_id)
    _summary(send_id)


@app.command("reschedule")
def reschedule_command(
    send_id: int,
    at: str = typer.Option(..., "--at", help='The new UK time, e.g. "2026-12-01 09:00".'),
    yes: bool = typer.Option(False, "--yes", help="Do not ask (needed without a terminal)."),
) -> None:
    """Move a scheduled send to another UK time, after a review."""
    from newsletter import send_review, sends
    from newsletter.dispatch import control

    with user_errors():
        when = send_review.check_time(sends.parse_uk_time(at))
    assert when is not None
    _review_existing(send_id, when, yes=yes, verb="Reschedule")
    with user_errors():
        control.reschedule(send_id, when)
    _summary(send_id)


def _review_existing(send_id: int, at: datetime | None, *, yes: bool, verb: str) -> None:

    from newsletter import send_review, sends

    with store() as session:
        send = sends.get_send(session, send_id)
        if send.status not in ("scheduled", "draft"):
            fail(f"send {send_id} is {send.status}; only a scheduled send can be changed")
        if send.update_id is None or not send.segments:
            fail(f"send {send_id} is an event notice; it has no editions to review")
        review = send_review.review(
            session, send.update_id, list(send.segments), at=at, subject=send.subject
        )
    print_review(review, title=f"{verb}: send {send_id}")
    confirm(f"{verb}: {review.summary()}?", yes=yes)


@app.command("pause")
def pause_command(send_id: int) -> None:
    """Pause a send; batches in flight stop at their next record."""
    from newsletter.dispatch import control

    with user_errors():
        control.pause(send_id)
    console.print(f"Send {send_id} paused.")


@app.command("resume")
def resume_command(send_id: int) -> None:
    """Resume a paused send."""
    from newsletter.config import get_settings
    from newsletter.dispatch import control
    from newsletter.dispatch.embedded import run_until_idle

    with user_errors():
        status = control.resume(send_id)
    console.print(f"Send {send_id} is {status} again.")
    if status == "sending" and not get_settings().broker_url:
        run_until_idle()
        _summary(send_id)


@app.command("cancel")
def cancel_command(send_id: int) -> None:
    """Cancel a send; what is not yet sent is skipped."""
    from newsletter.dispatch import control
    from newsletter.display import plural

    with user_errors():
        skipped = control.cancel(send_id)
    skipped_text = plural(skipped, "pending delivery", "pending deliveries")
    console.print(f"Send {send_id} cancelled; {skipped_text} skipped.")


@app.command("watch")
def watch_command(send_id: int, interval: float = typer.Option(1.0, "--interval", min=0.1)) -> None:
    """A live progress bar until the send finishes, is cancelled or pauses."""
    from newsletter import sends

    with _progress() as progress:
        task = progress.add_task(f"send {send_id}", total=None)
        while True:
            with store() as session:
                send = sends.get_send(session, send_id)
                c = sends.counts(session, send_id)
                status = send.status
            progress.update(
                task,
                total=c.planned or None,
                completed=c.planned - c.pending,
                description=f"send {send_id} {status} (failed {c.failed}, skipped {c.skipped})",
            )
            if status in sends.FINAL or status == "paused":
                break
            time.sleep(interval)
    _summary(send_id)
    if status == "paused":
        fail(f"send {send_id} is paused", code=1)
