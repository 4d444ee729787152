"""``newsletter ingest``, ``newsletter updates …`` and ``newsletter events …``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from newsletter.cli.common import console, err_console, fail, print_json, store, user_errors
from newsletter.cli.send_cmds import run_embedded_if_needed

updates_app = typer.Typer(help="Stored updates.", no_args_is_help=True)
events_app = typer.Typer(help="Events found in updates.", no_args_is_help=True)


def ingest_command(
    files: list[Path] = typer.Argument(..., help="Update files (.txt, .md, .json)."),
    fmt: str = typer.Option("auto", "--format", help="auto, text, markdown or json."),
    json_output: bool = typer.Option(False, "--json", help="Print the stored update(s) as JSON."),
) -> None:
    """Parse and store updates; every file is checked before anything is stored."""
    from newsletter import updates
    from newsletter.ingest import IngestError, parse_file

    results = []
    for path in files:
        try:
            result = parse_file(path, fmt)
        except IngestError as exc:
            fail(str(exc))
        for warning in result.warnings:
            err_console.print(f"{path}: warning: {warning}", markup=False, soft_wrap=True)
        results.append(result)
    stored = []
    with store() as session:
        for result in results:
            record = updates.store_update(
                session,
                result.update,
                source_name=Path(result.source).name,
                source_format=result.format,
            )
            stored.append(updates.to_content(record).to_json())
    if json_output:
        print_json(stored[0] if len(stored) == 1 else stored)
        return
    for data in stored:
        console.print(
            f"Stored update {data['id']}: {data['title']} — {len(data['sections'])} sections, "
            f"{len(data['events'])} events",
            markup=False,
        )


@updates_app.command("list")
def list_updates(json_output: bool = typer.Option(False, "--json")) -> None:
    """List stored updates, newest first."""
    from newsletter import updates

    with store() as session:
        rows = [
            {
                "id": r.id,
                "title": r.title,
                "period": r.period,
                "events": len(r.events),
                "source": r.source_name,
            }
            for r in updates.list_records(session)
        ]
    if json_output:
        print_json(rows)
        return
    table = Table(title="Updates")
    for column in ("id", "title", "period", "events", "source"):
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(row[k] or "") for k in ("id", "title", "period", "events", "source")))
    console.print(table)


@updates_app.command("show")
def show_update(update_id: int, json_output: bool = typer.Option(False, "--json")) -> None:
    """Show one update (its documented JSON with --json)."""
    from newsletter import updates

    with store() as session:
        data = updates.load_update(session, update_id).to_json()
    if json_output:
        print_json(data)
        return
    console.print(f"[bold]{data['title']}[/] ({data['period'] or 'no period'})")
    for section in data["sections"]:
        heading = section["heading"] or "(introduction)"
        console.print(f"\n[bold]{heading}[/]  for: {', '.join(section['audiences'])}")
        for block in section["blocks"]:
            if block["type"] == "paragraph":
                console.print(block["text"], markup=False)
            else:
                for item in block["items"]:
                    console.print(f"  • {item}", markup=False)
    for event in data["events"]:
        console.print(f"\nEvent {event['id']}: {event['title']} at {event['start']}", markup=False)


@updates_app.command("delete")
def delete_update(update_id: int) -> None:
    """Delete an update that no send has used."""
    from newsletter import updates

    with store() as session:
        updates.delete_update(session, update_id)
    console.print(f"Deleted update {update_id}.")


@events_app.command("list")
def list_events(
    update_id: int | None = typer.Option(None, "--update", help="Only this update's events."),
    json_output: bool = typer.Option(False, "--json"),
) -> None:
    """List events with their UK times."""
    from sqlalchemy import select

    from newsletter import updates
    from newsletter.models import EventRecord
    from newsletter.render.formatting import when_label
    from newsletter.updates import event_from_record

    with store() as session:
        query = select(EventRecord).order_by(EventRecord.start)
        if update_id is not None:
            updates.get_record(session, update_id)
            query = query.where(EventRecord.update_id == update_id)
        records = list(session.scalars(query))
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
    console.print(table)


@events_app.command("edit")
def edit_event_command(
    event_id: int,
    title: str | None = typer.Option(None, "--title"),
    start: str | None = typer.Option(None, "--start", help='UK time, "2026-12-01 10:00".'),
    end: str | None = typer.Option(None, "--end", help="UK time."),
    location: str | None = typer.Option(None, "--location"),
    url: str | None = typer.Option(None, "--url"),
    quiet: bool = typer.Option(False, "--no-notify", help="Correct without telling recipients."),
) -> None:
    """Correct an event; if it was already sent, its recipients get an update."""
    from newsletter.event_changes import edit_event
    from newsletter.sends import parse_uk_time

    with user_errors():
        start_at = parse_uk_time(start, option="--start") if start else None
        end_at = parse_uk_time(end, option="--end") if end else None
    with store() as session:
        change = edit_event(
            session, event_id, title=title, start=start_at, end=end_at,
            location=location, url=url, notify=not quiet,
        )  # fmt: skip
    _report(change.changed, change.notice_send_id, change.recipients, "update")


@events_app.command("cancel")
def cancel_event_command(event_id: int) -> None:
    """Cancel an event; everyone who has it gets METHOD:CANCEL."""
    from newsletter.event_changes import cancel_event

    with store() as session:
        change = cancel_event(session, event_id)
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
    console.print(f"Send {send_id}: the {what} goes to the {recipients} who have the event.")
