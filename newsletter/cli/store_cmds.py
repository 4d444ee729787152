"""``newsletter config`` and ``newsletter init``."""

from __future__ import annotations

import typer
from rich.table import Table

from newsletter.cli.common import console, initialise, user_errors


def config_command(
    json_output: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Print the effective settings, secrets masked."""
    from newsletter.config import Settings, get_settings, masked

    settings = get_settings()
    values = {name: masked(name, getattr(settings, name)) for name in Settings.model_fields}
    if json_output:
        from newsletter.cli.common import print_json

        print_json(values)
        return
    table = Table(title="Effective settings (environment prefix NEWSLETTER_)")
    table.add_column("setting")
    table.add_column("value")
    for name, value in values.items():
        table.add_row(f"NEWSLETTER_{name.upper()}", value)
    console.print(table)


def init_command() -> None:
    """Create or migrate the store to the newest schema (idempotent)."""
    from newsletter.db import get_engine
    from newsletter.migrate import current_revision

    with user_errors():
        engine = get_engine()
        before = current_revision(engine)
        initialise(engine)
        after = current_revision(engine)
    url = engine.url.render_as_string(hide_password=True)
    if before == after:
        console.print(f"Store {url} is up to date (schema {after}).")
    else:
        console.print(f"Store {url} migrated from {before or 'empty'} to schema {after}.")
