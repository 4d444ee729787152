"""``newsletter bounces …`` and ``newsletter suppressions …``.

The lead registers them::

    app.add_typer(bounce_cmds.bounces_app, name="bounces")
    app.add_typer(bounce_cmds.suppressions_app, name="suppressions")
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

if TYPE_CHECKING:
    from newsletter.bounces.intake import BounceResult

from newsletter.cli.common import (
    console,
    prepare_store,
    print_json,
    print_table,
    store,
    user_errors,
)

bounces_app = typer.Typer(
    help="Bounces and complaints: read DSN and ARF reports, apply the rules.",
    no_args_is_help=True,
)
suppressions_app = typer.Typer(
    help="Suppressed addresses: never sent to, whatever segment they are in.",
    no_args_is_help=True,
)


def _describe(source: str, result: BounceResult) -> dict[str, object]:
    return {
        "source": source,
        "outcome": result.outcome,
        "reason": result.reason,
        "send_id": result.send_id,
        "delivery_id": result.delivery_id,
        "email": result.email,
        "status": result.status,
        "suppressed": result.suppressed,
        "set_aside_id": result.set_aside_id,
    }


def _report(rows: list[dict[str, object]], json_output: bool) -> None:

    from newsletter.display import plural

    if json_output:
        print_json(rows)
        return
    for row in rows:
        where = (
            f"send {row['send_id']} delivery {row['delivery_id']}"
            if row["delivery_id"] is not None
            else f"set aside #{row['set_aside_id']}"
        )
        console.print(f"{row['source']}: {row['outcome']} ({where}) {row['reason']}", markup=False)
    totals = Counter(str(row["outcome"]) for row in rows)
    summary = ", ".join(f"{n} {outcome}" for outcome, n in sorted(totals.items())) or "nothing"
    console.print(f"{plural(len(rows), 'message')}: {summary}.", markup=False)


@bounces_app.command("ingest")
def ingest_command(
    path: Path = typer.Argument(..., help="A Maildir, an mbox file, an .eml file or a folder."),
    json_output: bool = typer.Option(False, "--json", help="Print one JSON object per message."),
) -> None:
    """Read bounce and complaint messages from PATH and apply the rules."""
    rows: list[dict[str, object]] = []
    with user_errors():
        engine = prepare_store()
        from newsletter.bounces.sources import ingest_path

        ingest_path(path, engine=engine, on_result=lambda s, r: rows.append(_describe(s, r)))
    _report(rows, json_output)


@bounces_app.command("poll")
def poll_command(json_output: bool = typer.Option(False, "--json")) -> None:
    """Fetch and ingest the messages of the configured bounce mailbox (IMAP or POP3) once."""
    with user_errors():
        engine = prepare_store()
        from newsletter.bounces.sources import poll_mailbox

        results = poll_mailbox(engine=engine)
    _report([_describe("mailbox", r) for r in results], json_output)


@suppressions_app.command("list")
def list_command(
    reason: str | None = typer.Option(None, "--reason", help="Only entries with this reason."),
    json_output: bool = typer.Option(False, "--json"),
) -> None:
    """List suppressed addresses with reason and date, newest first."""
    from newsletter.display import uk_time
    from newsletter.suppressions import list_suppressions

    with store() as session:
        entries = list_suppressions(session, reason=reason)
    if json_output:
        print_json([e.to_json() for e in entries])
        return
    table = Table(title=f"Suppressed addresses ({len(entries)})")
    for column in ("email", "reason", "since", "detail"):
        table.add_column(column)
    for e in entries:
        table.add_row(e.email, e.reason, uk_time(e.created_at), e.detail)
    print_table(table)


@suppressions_app.command("add")
def add_command(
    email: str,
    reason: str = typer.Option("manual", "--reason"),
    detail: str = typer.Option("", "--detail"),
) -> None:
    """Suppress an address (it keeps its first reason if already suppressed)."""
    from newsletter.suppressions import add_suppression

    with store() as session:
        entry, created = add_suppression(session, email, reason, detail)
    if created:
        console.print(f"{entry.email} suppressed ({entry.reason}).", markup=False)
    else:
        console.print(
            f"{entry.email} was already suppressed ({entry.reason}, {entry.created_at:%Y-%m-%d}).",
            markup=False,
        )


@suppressions_app.command("remove")
def remove_command(email: str) -> None:
    """Lift a suppression; the subscriber's status is not changed."""
    from newsletter.suppressions import remove_suppression

    with store() as session:
        removed = remove_suppression(session, email)
    if not removed:
        console.print(f"{email} was not suppressed.", markup=False)
        raise typer.Exit(1)
    console.print(f"{email} is no longer suppressed.", markup=False)
