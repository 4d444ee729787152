"""``newsletter ingest`` and ``newsletter updates …``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from newsletter.cli.common import console, err_console, fail, print_json, store

updates_app = typer.Typer(help="Stored updates.", no_args_is_help=True)


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
