"""``newsletter ingest`` and ``newsletter updates …``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from newsletter.cli.common import console, err_console, fail, print_json, print_table, store

updates_app = typer.Typer(help="Stored updates.", no_args_is_help=True)
# Who the update history names for corrections made on the command line.
CLI_ACTOR = "command line"


def ingest_command(
    files: list[Path] = typer.Argument(..., help="Update files (.txt, .md, .json)."),
    fmt: str = typer.Option("auto", "--format", help="auto, text, markdown or json."),
    json_output: bool = typer.Option(False, "--json", help="Print the stored update(s) as JSON."),
) -> None:
    """Parse and store updates; every file is checked before anything is stored."""
    from newsletter import updates
    from newsletter.display import plural
    from newsletter.ingest import IngestError, parse_file

    results = []
    for path in files:
        try:
            result = parse_file(path, fmt)
        except IngestError as exc:
            fail(str(exc))
        too_long = updates.overlong_field(result.update, Path(result.source).name)
        if too_long is not None:
            fail(f"{path}: {too_long}")
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
            f"Stored update {data['id']}: {data['title']} — "
            f"{plural(len(data['sections']), 'section')}, {plural(len(data['events']), 'event')}",
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
    print_table(table)


@updates_app.command("show")
def show_update(update_id: int, json_output: bool = typer.Option(False, "--json")) -> None:
    """Show one update (its documented JSON with --json)."""
    from newsletter import corrections, updates

    with store() as session:
        data = updates.load_update(session, update_id).to_json()
        changes = [
            f"{c.created_at:%Y-%m-%d %H:%M} {c.actor}: {c.field}: {c.before or '—'} → "
            f"{c.after or '—'}"
            for c in corrections.history(session, update_id)
        ]
    if json_output:
        print_json(data)
        return
    console.print(
        f"{data['title']} ({data['region'] or 'no region'}, "
        f"{data['period_label'] or data['period'] or 'no period'})",
        markup=False,
    )
    for number, section in enumerate(data["sections"], start=1):
        heading = section["heading"] or "(introduction)"
        console.print(
            f"\n{number}. {heading}  for: {', '.join(section['audiences'])}", markup=False
        )
        for block in section["blocks"]:
            if block["type"] == "paragraph":
                console.print(block["text"], markup=False)
            else:
                for item in block["items"]:
                    console.print(f"  • {item}", markup=False)
    for event in data["events"]:
        mark = "  [needs a title]" if event["needs_title"] else ""
        console.print(
            f"\nEvent {event['id']}: {event['title']} at {event['start']}{mark}", markup=False
        )
    if changes:
        console.print("\nHistory:")
        for line in changes:
            console.print(f"  {line}", markup=False, soft_wrap=True)


@updates_app.command("audiences")
def set_section_audiences(
    update_id: int,
    section: int = typer.Option(
        ..., "--section", help="Section number, as `updates show` numbers them (1 = first)."
    ),
    audiences: str = typer.Option(
        ..., "--set", help="Segments, comma-separated (dcs,workforce-lead); dcs is always kept."
    ),
) -> None:
    """Correct which segments a section speaks to; later previews and sends use it."""
    from newsletter import corrections

    with store() as session:
        change = corrections.section_audiences(
            session, update_id, section, audiences.split(","), actor=CLI_ACTOR
        )
    if change is None:
        console.print("Nothing changed.")
    else:
        console.print(f"{change.field}: {change.before} → {change.after}", markup=False)


@updates_app.command("correct")
def correct_update_command(
    update_id: int,
    title: str | None = typer.Option(None, "--title"),
    region: str | None = typer.Option(None, "--region", help="A region, or 'none'."),
    period: str | None = typer.Option(
        None, "--period", help="2019-05, 'Spring 2019', 'Quarter 2 2019/20'… or 'none'."
    ),
) -> None:
    """Correct the update's title, region or period as ingest understood them."""
    from newsletter import corrections

    with store() as session:
        changes = corrections.correct_update(
            session, update_id, title=title, region=region, period=period, actor=CLI_ACTOR
        )
    if not changes:
        console.print("Nothing changed.")
    for change in changes:
        console.print(
            f"{change.field}: {change.before or '—'} → {change.after or '—'}", markup=False
        )


@updates_app.command("delete")
def delete_update(update_id: int) -> None:
    """Delete an update that no send has used."""
    from newsletter import updates

    with store() as session:
        updates.delete_update(session, update_id)
    console.print(f"Deleted update {update_id}.")
