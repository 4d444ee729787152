"""``newsletter config`` and ``newsletter init``."""

from __future__ import annotations

import typer
from rich.table import Table

from newsletter.cli.common import console, initialise, print_table, user_errors


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
    print_table(table)


def init_command() -> None:
    """Create or migrate the store to the newest schema (idempotent).

    With no NEWSLETTER_SECRET_KEY set, a random secret key is generated once
    and kept beside a SQLite store (STORE.secret-key, readable by its owner
    only), so the embedded set-up signs links with a key nobody else knows.
    """
    from newsletter.config import ensure_secret_key, get_settings, reset_settings, secret_problem
    from newsletter.db import get_engine
    from newsletter.migrate import current_revision

    with user_errors():
        engine = get_engine()
        before = current_revision(engine)
        initialise(engine)
        after = current_revision(engine)
        written = ensure_secret_key(get_settings())
    reset_settings()
    url = engine.url.render_as_string(hide_password=True)
    if before == after:
        console.print(f"Store {url} is up to date (schema {after}).")
    else:
        console.print(f"Store {url} migrated from {before or 'empty'} to schema {after}.")
    if written is not None:
        console.print(f"Generated a secret key in {written} (keep it private; back it up).")
    problem = secret_problem(get_settings())
    if problem is not None:
        console.print(f"warning: the web app and workers will not start: {problem}")
