"""``newsletter events …``: list, correct, cancel, and see who is coming."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from newsletter.cli.common import console, fail, print_json, print_table, store, user_errors
from newsletter.cli.send_cmds import run_embedded_if_needed

if TYPE_CHECKING:
    from newsletter.events.changes import ChangePreview

app = typer.Typer(help="Events found in updates.", no_args_is_help=True)


@app.command("list")
def list_events(
    update_id: int | None = typer.Option(None, "--update", help="Only this update's events."),
    json_output: bool = typer.Option(False, "--json"),
) -> None:
    """List events with their UK times."""
    from newsletter import updates
    from newsletter.events.queries import event_from_record
    from newsletter.events.queries import list_events as list_events_of
    from newsletter.render.formatting import when_label

    with store() as session:
        if update_id is not None:
            updates.get_record(session, update_id)
        records = list_events_of(session, update_id)
        rows = [
            {
                **event_from_record(r).to_json(),
                "update_id": r.update_id,
                "uid": r.uid,
                "url": r.url,
                "sequence": r.sequence,
                "cancelled": r.cancelled,
            }
            for r in records
        ]
        labels = [when_label(event_from_record(r)) for r in records]
    if json_output:
        print_json(rows)
        return
    table = Table(title="Events")
    for column in ("id", "update", "title", "when", "location", "status"):
        table.add_column(column)
    for row, label in zip(rows, labels, strict=True):
        status = "cancelled" if row["cancelled"] else ("featured" if row["featured"] else "")
        table.add_row(
            str(row["id"]), str(row["update_id"]), row["title"], label,
            row["location"] or "", status,
        )  # fmt: skip
    print_table(table)


def _confirm(preview: ChangePreview, yes: bool) -> None:
    """Show who is told and the notice; go on only with --yes or a "y" on a terminal.

    A change that notifies nobody goes ahead without asking: it sends nothing
    and can be corrected again.
    """
    if preview.notified:
        names = ", ".join(preview.names)
        more = preview.notified - len(preview.names)
        tail = f" and {more} others" if more > 0 else ""
        console.print(f"Notifies {preview.notified} people: {names}{tail}.", markup=False)
        console.print(f"Subject: {preview.subject}", markup=False)
        console.print(preview.text, markup=False)
    else:
        # Nothing is sent: a correction nobody has seen can be corrected again.
        return
    if yes:
        return
    if not sys.stdin.isatty():
        fail("this changes an event people may have; confirm with --yes (not a terminal)")
    if not typer.confirm("Go ahead?", default=False):
        console.print("Nothing changed.")
        raise typer.Exit(1)


@app.command("edit")
def edit_event_command(
    event_id: int,
    title: str | None = typer.Option(None, "--title"),
    start: str | None = typer.Option(None, "--start", help='UK time, "2026-12-01 10:00".'),
    end: str | None = typer.Option(None, "--end", help="UK time."),
    location: str | None = typer.Option(None, "--location"),
    url: str | None = typer.Option(None, "--url"),
    quiet: bool = typer.Option(False, "--no-notify", help="Correct without telling recipients."),
    message: str | None = typer.Option(None, "--message", help="Shown in the update notice."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask (scripts)."),
) -> None:
    """Correct an event; if it was already sent, its recipients get an update.

    Shows who will be notified and the notice first, and asks on a terminal.
    """
    from newsletter.events.changes import EventFields, edit_event, preview_change
    from newsletter.sends import parse_uk_time

    with user_errors():
        start_at = parse_uk_time(start, option="--start") if start else None
        end_at = parse_uk_time(end, option="--end") if end else None
    fields: EventFields = {
        "title": title, "start": start_at, "end": end_at, "location": location, "url": url,
    }  # fmt: skip
    with store() as session:
        preview = preview_change(session, event_id, notify=not quiet, message=message, **fields)
    _confirm(preview, yes)
    with store() as session:
        change = edit_event(session, event_id, notify=not quiet, message=message, **fields)
    _report(change.changed, change.notice_send_id, change.recipients, "update")


@app.command("cancel")
def cancel_event_command(
    event_id: int,
    quiet: bool = typer.Option(False, "--no-notify", help="Cancel without telling anyone."),
    message: str | None = typer.Option(None, "--message", help="Shown in the cancellation."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask (scripts)."),
) -> None:
    """Cancel an event; everyone who has it gets METHOD:CANCEL (asks first on a terminal)."""
    from newsletter.events.changes import cancel_event, preview_cancel

    with store() as session:
        preview = preview_cancel(session, event_id, notify=not quiet, message=message)
    _confirm(preview, yes)
    with store() as session:
        change = cancel_event(session, event_id, notify=not quiet, message=message)
    _report(change.changed, change.notice_send_id, change.recipients, "cancellation")


def _report(changed: tuple[str, ...], send_id: int | None, recipients: int, what: str) -> None:
    from newsletter.dispatch import control

    if not changed:
        console.print("Nothing changed.")
        return
    console.print(f"Changed: {', '.join(changed)}.")
    if send_id is None:
        console.print("Nobody has received this event yet, so nobody is notified.")
        return
    with user_errors():
        control.start_if_due(send_id)
    run_embedded_if_needed(send_id)
    console.print(f"Send {send_id}: the {what} goes out to those who have the event.")


@app.command("attendees")
def attendees_command(
    event_id: int,
    json_output: bool = typer.Option(False, "--json"),
    csv_path: Path | None = typer.Option(
        None, "--csv", help="Write the list as CSV to this file ('-' for standard output)."
    ),
) -> None:
    """Who has the event and what they answered (accepted, tentative, declined, no reply)."""
    from newsletter.events import replies

    with store() as session:
        people = replies.attendees(session, event_id)
    tally = replies.counts(people)
    if csv_path is not None:
        text = replies.attendees_csv(people)
        if str(csv_path) == "-":
            sys.stdout.write(text)
        else:
            with user_errors():
                csv_path.write_text(text, encoding="utf-8")
            console.print(f"Wrote {len(people)} attendees to {csv_path}.", markup=False)
        return
    if json_output:
        print_json(
            {"event_id": event_id, "counts": tally, "attendees": [p.to_json() for p in people]}
        )
        return
    console.print(", ".join(f"{n} {status}" for status, n in tally.items()))
    table = Table(title=f"Event {event_id}: attendees")
    for column in ("name", "email", "organisation", "answer", "when"):
        table.add_column(column)
    for p in people:
        when = f"{p.replied_at:%Y-%m-%d %H:%M} UTC" if p.replied_at else ""
        table.add_row(p.name, p.email, p.organisation, p.status, when)
    print_table(table)
