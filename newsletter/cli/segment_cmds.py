"""``newsletter segments …``: named audience rules."""

from __future__ import annotations

import typer
from rich.table import Table

from newsletter.cli.common import console, print_json, store

app = typer.Typer(help="Segments: named rules over subscriber fields.", no_args_is_help=True)


@app.command("list")
def list_command(json_output: bool = typer.Option(False, "--json")) -> None:
    """List segments with their rules and audience sizes."""
    from newsletter import segments

    with store() as session:
        rows = [(s, segments.count_rule(session, s.rule)) for s in segments.list_all(session)]
    if json_output:
        print_json(
            [
                {
                    "name": s.name,
                    "rule": s.rule,
                    "builtin": s.builtin,
                    "public": s.public,
                    "count": n,
                }
                for s, n in rows
            ]
        )
        return
    table = Table(title="Segments")
    for column in ("name", "rule", "description", "feed", "active subscribers"):
        table.add_column(column)
    for segment, n in rows:
        name = f"{segment.name} (built in)" if segment.builtin else segment.name
        feed = "public" if segment.public else "private"
        table.add_row(name, segment.rule, segment.description, feed, str(n))
    console.print(table)


@app.command("show")
def show_command(name: str) -> None:
    """Show one segment's rule and audience size."""
    from newsletter import segments

    with store() as session:
        segment = segments.get(session, name)
        n = segments.count_rule(session, segment.rule)
        console.print(f"name:        {segment.name}{' (built in)' if segment.builtin else ''}")
        console.print(f"rule:        {segment.rule}", markup=False)
        console.print(f"description: {segment.description}", markup=False)
        console.print(f"calendar feed: {'public' if segment.public else 'private'}")
        console.print(f"active subscribers: {n}")


@app.command("add")
def add_command(
    name: str,
    rule: str = typer.Option(..., "--rule", help="e.g. 'role:dcs and region:\"North East\"'"),
    description: str = typer.Option("", "--description"),
    public: bool = typer.Option(
        False, "--public", help="List its calendar feed on /calendar (default: private)."
    ),
) -> None:
    """Create a segment from a rule."""
    from newsletter import segments

    with store() as session:
        segments.add(session, name, rule, description, public=public)
        n = segments.count_rule(session, rule)
    console.print(f"Segment {name} created: {n} active subscribers.")


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
