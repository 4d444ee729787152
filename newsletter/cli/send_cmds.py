"""``newsletter send``, ``newsletter invite`` and ``newsletter sends …``."""

from __future__ import annotations

import time

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from newsletter.cli.common import console, fail, print_json, store, user_errors

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
    dry_run: bool = typer.Option(False, "--dry-run", help="Count recipients; send nothing."),
    test_to: str | None = typer.Option(None, "--test-to", help="Send one copy there only."),
) -> None:
    """Send an update to segments now or at a UK time; prints the send id."""
    from newsletter import sends

    with user_errors():
        when = sends.parse_uk_time(at) if at else None
    if test_to:
        from newsletter.single_message import send_test_copy

        with store() as session:
            message_id = send_test_copy(session, update_id, segment[0], test_to, subject=subject)
        console.print(f"Test copy ({segment[0]} edition) sent to {test_to}: {message_id}")
        return
    if dry_run:
        _dry_run(update_id, segment)
        return
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


def invite_command(
    event_id: int,
    segment: list[str] = typer.Option(..., "--segment"),
    at: str | None = typer.Option(None, "--at", help="UK time."),
    subject: str | None = typer.Option(None, "--subject"),
) -> None:
    """Send an invitation (METHOD:REQUEST, recipient as ATTENDEE) for an event."""
    from newsletter import sends

    with user_errors():
        when = sends.parse_uk_time(at) if at else None
    with store() as session:
        from newsletter.events.queries import get_event

        event = get_event(session, event_id)
        send = sends.create_send(
            session,
            update_id=event.update_id,
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


def _dry_run(update_id: int, segment_names: list[str]) -> None:
    from newsletter import segments as segment_store
    from newsletter.updates import get_record

    with store() as session:
        get_record(session, update_id)
        table = Table(title=f"Dry run of update {update_id}: nothing is sent")
        table.add_column("segment")
        table.add_column("recipients (first listed segment wins)", justify="right")
        seen_rule: list[str] = []
        total = 0
        for name in segment_names:
            rule = segment_store.get(session, name).rule
            combined = f"({rule})" + "".join(f" and not ({r})" for r in seen_rule)
            n = segment_store.count_rule(session, combined)
            seen_rule.append(rule)
            total += n
            table.add_row(name, str(n))
        table.add_row("total", str(total))
    console.print(table)


def _summary(send_id: int) -> None:
    from newsletter import sends

    with store() as session:
        data = sends.to_json(session, sends.get_send(session, send_id))
    console.print(
        f"Send {send_id} is {data['status']}: planned {data['planned']}, sent {data['sent']}, "
        f"failed {data['failed']}, skipped {data['skipped']}, pending {data['pending']}."
    )
    if data["status"] == "scheduled":
        console.print(f"Scheduled for {data['scheduled_at']}; workers or beat will start it.")


@app.command("list")
def list_command(json_output: bool = typer.Option(False, "--json")) -> None:
    """The most recent sends."""
    from newsletter import sends

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
            r["scheduled_at"] or "",
        )  # fmt: skip
    console.print(table)


@app.command("show")
def show_command(send_id: int, json_output: bool = typer.Option(False, "--json")) -> None:
    """One send's state and counts (--json: id, status, planned, sent, failed, skipped, pending)."""
    from newsletter import sends

    with store() as session:
        data = sends.to_json(session, sends.get_send(session, send_id))
    if json_output:
        keys = ("id", "status", "planned", "sent", "failed", "skipped", "pending")
        print_json({k: data[k] for k in keys})
        return
    for key, value in data.items():
        console.print(f"{key:>13}: {value}", markup=False)


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

    with user_errors():
        skipped = control.cancel(send_id)
    console.print(f"Send {send_id} cancelled; {skipped} pending deliveries skipped.")


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
