"""``newsletter demo``: the main job, end to end, with no server."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import typer
from rich.table import Table

from newsletter.cli.common import console, err_console, print_json, print_table, user_errors


def demo_command(
    folder: Path = typer.Option(Path("demo-output"), "--dir", help="A fresh folder for it all."),
    json_output: bool = typer.Option(False, "--json", help="Print the outcome as JSON."),
) -> None:
    """Ingest the samples, add ~300 subscribers, send everything to the outbox."""
    from newsletter.demo import run_demo
    from newsletter.display import plural

    # With --json, stdout carries the JSON only; the running commentary goes to stderr.
    out = err_console if json_output else console
    with user_errors():
        result = run_demo(folder, progress=lambda line: out.print(f"• {line}", markup=False))
    if json_output:
        print_json(
            {
                "subscribers": result.subscribers,
                "database": str(result.database),
                "outbox": str(result.outbox),
                "index": str(result.index.resolve()),
                "sends": [asdict(s) for s in result.sends],
            }
        )
        return
    table = Table(title="Demo sends")
    for column in ("send", "what", "segments", "planned", "sent", "failed", "skipped", "status"):
        table.add_column(column)
    for s in result.sends:
        table.add_row(
            str(s.send_id), s.what, s.segments, str(s.planned), str(s.sent), str(s.failed),
            str(s.skipped), s.status,
        )  # fmt: skip
    print_table(table)
    total = sum(s.sent for s in result.sends)
    console.print(
        f"{plural(result.subscribers, 'subscriber')}, {plural(len(result.updates), 'update')}, "
        f"{plural(total, 'email')}."
    )
    console.print(f"Store:    {result.database}", markup=False)
    console.print(f"Emails:   {result.outbox}/*.eml", markup=False)
    console.print(f"Browse:   {result.index.resolve().as_uri()}", markup=False)
