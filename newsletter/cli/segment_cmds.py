"""``newsletter segments …``: named audience rules."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.table import Table

from newsletter.cli.common import console, fail, print_json, print_table, store

if TYPE_CHECKING:
    from newsletter.models import Segment

app = typer.Typer(help="Segments: named rules over subscriber fields.", no_args_is_help=True)


def _json(segment: Segment, count: int) -> dict[str, object]:

    from newsletter import segments

    return {
        "name": segment.name,
        "label": segments.display_name(segment),
        "rule": segment.rule,
        "description": segment.description,
        "builtin": segment.builtin,
        "public": segment.public,
        "count": count,
    }


@app.command("list")
def list_command(json_output: bool = typer.Option(False, "--json")) -> None:
    """List segments with their rules and audience sizes."""
    from newsletter import segments

    with store() as session:
        rows = [(s, segments.count_rule(session, s.rule)) for s in segments.list_all(session)]
    if json_output:
        print_json([_json(s, n) for s, n in rows])
        return
    table = Table(title="Segments")
    for column in ("name", "display name", "rule", "description", "feed", "active subscribers"):
        table.add_column(column)
    for segment, n in rows:
        name = f"{segment.name} (built in)" if segment.builtin else segment.name
        shown = segments.display_name(segment)
        feed = "public" if segment.public else "private"
        table.add_row(name, shown, segment.rule, segment.description, feed, str(n))
    print_table(table)


@app.command("show")
def show_command(name: str, json_output: bool = typer.Option(False, "--json")) -> None:
    """Show one segment's rule and audience size."""
    from newsletter import segments
    from newsletter.display import plural

    with store() as session:
        segment = segments.get(session, name)
        n = segments.count_rule(session, segment.rule)
        if json_output:
            print_json(_json(segment, n))
            return
        console.print(f"name:        {segment.name}{' (built in)' if segment.builtin else ''}")
        console.print(f"shown as:    {segments.display_name(segment)}", markup=False)
        console.print(f"rule:        {segment.rule}", markup=False)
        console.print(f"description: {segment.description}", markup=False)
        console.print(f"calendar feed: {'public' if segment.public else 'private'}")
        console.print(f"audience:    {plural(n, 'active subscriber')}")


@app.command("add")
def add_command(
    name: str,
    rule: str = typer.Option(..., "--rule", help="e.g. 'role:dcs and region:\"North East\"'"),
    description: str = typer.Option("", "--description"),
    label: str = typer.Option("", "--label", help='Display name, e.g. "North East leaders".'),
    public: bool = typer.Option(
        False, "--public", help="List its calendar feed on /calendar (default: private)."
    ),
) -> None:
    """Create a segment from a rule."""
    from newsletter import segments
    from newsletter.display import plural

    with store() as session:
        segments.add(session, name, rule, description, label=label, public=public)
        n = segments.count_rule(session, rule)
    console.print(f"Segment {name} created: {plural(n, 'active subscriber')}.")


@app.command("edit")
def edit_command(
    name: str,
    label: str | None = typer.Option(
        None, "--label", help='Display name in emails ("" for the default).'
    ),
    description: str | None = typer.Option(None, "--description"),
) -> None:
    """Change a segment's display name and/or description (built-ins too)."""
    from newsletter import segments

    if label is None and description is None:
        fail("give --label and/or --description")
    with store() as session:
        segment = segments.describe(session, name, label=label, description=description)
        shown = segments.display_name(segment)
    console.print(f"Segment {name} is shown as {shown!r}.", markup=False)


@app.command("publish")
def publish_command(
    name: str,
    private: bool = typer.Option(False, "--private", help="Unlist the feed instead."),
) -> None:
    """List the segment's calendar feed on /calendar (or unlist it with --private)."""
    from newsletter import segments

    with store() as session:
        segments.set_public(session, name, not private)
    state = "private" if private else "public"
    console.print(f"Segment {name}: calendar feed is now {state}.")


@app.command("remove")
def remove_command(name: str) -> None:
    """Delete a custom segment."""
    from newsletter import segments

    with store() as session:
        segments.remove(session, name)
    console.print(f"Segment {name} removed.")


@app.command("count")
def count_command(name: str) -> None:
    """Print only the number of active subscribers in the segment."""
    from newsletter import segments

    with store() as session:
        n = segments.count(session, name)
    typer.echo(str(n))
