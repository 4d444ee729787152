"""``newsletter demo``: the main job, end to end, with no server."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from newsletter.cli.common import console, user_errors


def demo_command(
    folder: Path = typer.Option(Path("demo-output"), "--dir", help="A fresh folder for it all."),
) -> None:
    """Ingest the samples, add ~300 subscribers, send everything to the outbox."""
    from newsletter.demo import run_demo

    with user_errors():
        result = run_demo(folder, progress=lambda line: console.print(f"• {line}", markup=False))
    table = Table(title="Demo sends")
    for column in ("send", "what", "segments", "planned", "sent", "failed", "skipped", "status"):
        table.add_column(column)
    for s in result.sends:
        table.add_row(
            str(s.send_id), s.what, s.segments, str(s.planned), str(s.sent), str(s.failed),
            str(s.skipped), s.status,
        )  # fmt: skip
    console.print(table)
    total = sum(s.sent for s in result.sends)
    console.print(
        f"{result.subscribers} subscribers, {len(result.updates)} updates, {total} emails."
    )
    console.print(f"Store:    {result.database}", markup=False)
    console.print(f"Emails:   {result.outbox}/*.eml", markup=False)
    console.print(f"Browse:   {result.index.resolve().as_uri()}", markup=False)
