"""``newsletter subscribers …``: add, list, show, remove, import, export."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn
from rich.table import Table

from newsletter.cli.common import console, err_console, fail, print_json, store

app = typer.Typer(help="Subscribers: the list itself.", no_args_is_help=True)

# Files with more rows than this show a progress bar while they import.
PROGRESS_THRESHOLD = 2000


@app.command("add")
def add_command(
    email: str,
    name: str = typer.Option("", "--name"),
    organisation: str = typer.Option("", "--organisation", "--org"),
    region: str = typer.Option("", "--region"),
    role: list[str] = typer.Option([], "--role", help="Repeat for several roles."),
    pending: bool = typer.Option(False, "--pending", help="Add as pending (needs confirming)."),
) -> None:
    """Add one subscriber (active unless --pending)."""
    from newsletter import subscribers

    with store() as session:
        data = subscribers.SubscriberInput.build(
            email, name=name, organisation=organisation, region=region, roles=role
        )
        existing = subscribers.by_key(session, data.email_key)
        if existing is not None:
            fail(f"{data.email} is already subscribed (id {existing.id})")
        subscribers.upsert(
            session,
            [data],
            default_status="pending" if pending else "active",
            consent_source="cli:add",
        )
    console.print(f"Added {data.email}.")


@app.command("list")
def list_command(
    json_output: bool = typer.Option(False, "--json", help="Print a JSON array."),
    status: str | None = typer.Option(None, "--status", help="Only this status."),
    segment: str | None = typer.Option(None, "--segment", help="Only this segment's audience."),
) -> None:
    """List subscribers."""
    from sqlalchemy import select

    from newsletter import segments, subscribers
    from newsletter.models import Subscriber

    with store() as session:
        query = select(Subscriber).order_by(Subscriber.id)
        if status:
            query = query.where(Subscriber.status == subscribers.check_status(status))
        if segment:
            rule = segments.get(session, segment).rule
            query = query.where(Subscriber.id.in_(segments.audience(rule)))
        rows = [subscribers.to_json(s) for s in session.scalars(query)]
    if json_output:
        print_json(rows)
        return
    table = Table(title=f"Subscribers ({len(rows)})")
    for column in ("email", "name", "organisation", "region", "roles", "status"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["email"],
            row["name"],
            row["organisation"],
            row["region"],
            ", ".join(row["roles"]),
            row["status"],
        )
    console.print(table)


@app.command("show")
def show_command(email: str) -> None:
    """Show one subscriber as JSON, consent record included."""
    from newsletter import subscribers

    with store() as session:
        print_json(subscribers.to_json(subscribers.find(session, email)))


@app.command("remove")
def remove_command(email: str) -> None:
    """Delete a subscriber and their history (erasure); to stop mail, unsubscribe instead."""
    from newsletter import subscribers

    with store() as session:
        subscribers.remove(session, email)
    console.print(f"Removed {email}.")


@app.command("import")
def import_command(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True),
    pending: bool = typer.Option(False, "--pending", help="Import new subscribers as pending."),
    strict: bool = typer.Option(False, "--strict", help="Store nothing if any row is bad."),
    update_opted_out: bool = typer.Option(
        False,
        "--update-opted-out",
        help="Update the details of opted-out addresses (never their opt-out); "
        "by default their rows are skipped.",
    ),
) -> None:
    """Import subscribers from CSV (upsert by email); exit 1 if any row was rejected."""
    from newsletter.subscriber_csv import import_csv, read_text

    with store() as session:
        text = read_text(file)
        total = max(text.count("\n"), 1)
        if total > PROGRESS_THRESHOLD and sys.stderr.isatty():
            with Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=err_console,
            ) as progress:
                task = progress.add_task(f"Checking {file.name}", total=total)
                report = import_csv(
                    session,
                    text,
                    source=str(file),
                    pending=pending,
                    strict=strict,
                    update_opted_out=update_opted_out,
                    progress=lambda n: progress.advance(task, n),
                )
        else:
            report = import_csv(
                session,
                text,
                source=str(file),
                pending=pending,
                strict=strict,
                update_opted_out=update_opted_out,
            )
    for rejected in report.rejected:
        err_console.print(f"{file}: {rejected}", markup=False, soft_wrap=True)
    for warning in report.warnings:
        err_console.print(f"{file}: {warning}", markup=False, soft_wrap=True)
    result = report.result
    if not report.stored:
        console.print(
            f"Nothing stored (--strict): {len(report.rejected)} of {report.rows} rows rejected."
        )
    else:
        skipped = len(result.skipped_opted_out)
        console.print(
            f"{report.rows} rows: {result.created} added, {result.updated} updated, "
            f"{result.unchanged} unchanged, {len(report.rejected)} rejected"
            + (
                f", {skipped} skipped (opted out; --update-opted-out updates their details)."
                if skipped
                else "."
            )
        )
    if not report.ok:
        raise typer.Exit(1)


@app.command("export")
def export_command(
    out: Path | None = typer.Option(None, "--out", "-o", help="File to write; default stdout."),
) -> None:
    """Export every subscriber as CSV in the import format."""
    from newsletter.subscriber_csv import export_csv

    with store() as session:
        if out is None:
            export_csv(session, sys.stdout)
            return
        with out.open("w", encoding="utf-8", newline="") as handle:
            n = export_csv(session, handle)
    console.print(f"Exported {n} subscribers to {out}.")
