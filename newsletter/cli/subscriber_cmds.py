"""``newsletter subscribers …``: add, list, show, edit, unsubscribe, resubscribe, erase,
import, export."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn
from rich.table import Table

from newsletter.cli.common import (
    confirm,
    console,
    err_console,
    fail,
    print_json,
    print_table,
    store,
)

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
    from newsletter import segments, subscribers

    with store() as session:
        audience = segments.audience(segments.get(session, segment).rule) if segment else None
        listed = subscribers.listing(session, status=status, audience=audience)
        rows = [subscribers.to_json(s) for s in listed]
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
    print_table(table)


@app.command("show")
def show_command(
    who: str = typer.Argument(..., metavar="ID_OR_EMAIL"),
    json_output: bool = typer.Option(False, "--json", help="Print the whole record as JSON."),
) -> None:
    """One subscriber: profile, consent, status history, sends received, bounces."""
    from newsletter import subscriber_record

    with store() as session:
        record = subscriber_record.record_json(
            subscriber_record.record_of(session, subscriber_record.lookup(session, who))
        )
    if json_output:
        print_json(record)
        return
    consent = record["consent"]
    lines = [
        ("id", record["id"]),
        ("email", record["email"]),
        ("name", record["name"]),
        ("organisation", record["organisation"]),
        ("region", record["region"]),
        ("roles", ", ".join(record["roles"]) or "none"),
        ("status", record["status"]),
        ("consent", f"{consent['source'] or 'not recorded'} {consent['ip'] or ''}".strip()),
        ("suppressed", record["suppressed"]["reason"] if record["suppressed"] else "no"),
    ]
    for key, value in lines:
        typer.echo(f"{key:>13}: {value}")
    typer.echo("\nStatus history:")
    for h in record["history"]:
        consent_text = f" (consent: {h['consent_source']})" if h["consent_source"] else ""
        typer.echo(f"  {_when(h['at'])}  {h['status']:<12} {h['source']}{consent_text}")
    typer.echo(f"\nSends received ({len(record['sends'])}):")
    for d in record["sends"]:
        reason = f"  {d['error']}" if d["error"] else ""
        typer.echo(f"  send {d['send_id']:<5} {d['status']:<8} {d['title']}{reason}")
    if record["reports"]:
        typer.echo("\nBounces and complaints:")
        for r in record["reports"]:
            typer.echo(f"  {_when(r['at'])}  {r['kind']:<9} send {r['send_id']}  {r['diagnostic']}")


def _when(iso: str | None) -> str:

    from datetime import datetime

    from newsletter.display import uk_time

    return uk_time(datetime.fromisoformat(iso)) if iso else ""


@app.command("edit")
def edit_command(
    who: str = typer.Argument(..., metavar="ID_OR_EMAIL"),
    email: str | None = typer.Option(None, "--email", help="A new address."),
    name: str | None = typer.Option(None, "--name"),
    organisation: str | None = typer.Option(None, "--organisation", "--org"),
    region: str | None = typer.Option(None, "--region"),
    role: list[str] | None = typer.Option(None, "--role", help="Repeat; replaces the roles."),
) -> None:
    """Change a subscriber's profile; options not given stay as they are."""
    from newsletter import subscriber_record, subscribers

    with store() as session:
        subscriber = subscriber_record.lookup(session, who)
        wanted = subscribers.SubscriberInput.build(
            email if email is not None else subscriber.email,
            name=name if name is not None else subscriber.name,
            organisation=organisation if organisation is not None else subscriber.organisation,
            region=region if region is not None else subscriber.region,
            roles=role if role else subscriber.role_names,
        )
        changed = subscriber_record.edit(session, subscriber, wanted)
        address = subscriber.email
    console.print(f"Saved {address}." if changed else f"Nothing to change for {address}.")


@app.command("unsubscribe")
def unsubscribe_command(who: str = typer.Argument(..., metavar="ID_OR_EMAIL")) -> None:
    """Unsubscribe a subscriber (recorded in their history as done from the command line)."""
    from newsletter import subscriber_record

    with store() as session:
        subscriber = subscriber_record.lookup(session, who)
        changed = subscriber_record.unsubscribe(subscriber, by=f"cli: {_operator()}")
        address, status = subscriber.email, subscriber.status
    console.print(f"Unsubscribed {address}." if changed else f"{address} is already {status}.")


@app.command("resubscribe")
def resubscribe_command(
    who: str = typer.Argument(..., metavar="ID_OR_EMAIL"),
    consent: str = typer.Option(
        ..., "--consent", help='How they consented again, e.g. "asked by email on 2 Dec".'
    ),
) -> None:
    """Make an opted-out subscriber active again: only with fresh consent, which is recorded."""
    from newsletter import subscriber_record

    with store() as session:
        subscriber = subscriber_record.lookup(session, who)
        subscriber_record.resubscribe(
            session, subscriber, consent=consent, by=f"cli: {_operator()}"
        )
        address = subscriber.email
    console.print(f"{address} is active again; their consent is recorded.")


@app.command("erase")
def erase_command(
    who: str = typer.Argument(..., metavar="ID_OR_EMAIL"),
    yes: bool = typer.Option(False, "--yes", help="Do not ask (needed without a terminal)."),
) -> None:
    """Erase a person (GDPR): personal data goes, their deliveries stay anonymised."""
    from newsletter import subscriber_record
    from newsletter.display import plural

    with store() as session:
        subscriber = subscriber_record.lookup(session, who)
        confirm(f"Erase {subscriber.email} for good?", yes=yes)
        address = subscriber.email
        kept = subscriber_record.erase(session, subscriber)
    console.print(f"Erased {address}; {plural(kept, 'delivery', 'deliveries')} kept anonymised.")


@app.command("remove", hidden=True)
def remove_command(
    who: str = typer.Argument(..., metavar="ID_OR_EMAIL"),
    yes: bool = typer.Option(False, "--yes"),
) -> None:
    """Same as ``erase`` (the earlier name)."""
    erase_command(who, yes)


def _operator() -> str:
    """Who runs the command, for the history ("ann" on host "office-pc")."""
    import getpass
    import socket

    try:
        return f"{getpass.getuser()}@{socket.gethostname()}"
    except (KeyError, OSError):
        return "unknown user"


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
    from newsletter.display import plural
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
            f"Nothing stored (--strict): {len(report.rejected)} of "
            f"{plural(report.rows, 'row')} rejected."
        )
    else:
        skipped = len(result.skipped_opted_out)
        console.print(
            f"{plural(report.rows, 'row')}: {result.created} added, {result.updated} updated, "
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
    from newsletter.display import plural
    from newsletter.subscriber_csv import export_csv

    with store() as session:
        if out is None:
            export_csv(session, sys.stdout)
            return
        with out.open("w", encoding="utf-8", newline="") as handle:
            n = export_csv(session, handle)
    console.print(f"Exported {plural(n, 'subscriber')} to {out}.")
