"""What every CLI command shares: consoles, the store, and user-facing errors.

Start-up time is part of every command (docs/performance.md, "Time to first
message"), so the CLI imports only what the command it runs needs: this
module and the command modules import the store, the domain and the
dispatch engine inside the functions that use them, never at the top.
``tests/test_startup.py`` holds the line.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from newsletter.errors import UserError

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session

# soft_wrap: lines are never broken at 80 columns when the output is a pipe or a file.
console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

# Errors caused by what the user typed or gave us: shown as one clear line
# (no traceback), exit status 2.  The product's own input errors are UserErrors
# (docs/architecture.md, "Errors"); file problems are named one by one so that
# other OS errors keep their traceback.  Anything else is a bug and keeps its
# traceback: a KeyError or a stray ValueError is never dressed up as bad input.
USER_ERRORS: tuple[type[Exception], ...] = (
    UserError,
    FileNotFoundError,
    IsADirectoryError,
    PermissionError,
)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``error: message`` to stderr and exit with ``code``."""
    err_console.print(
        f"[bold red]error:[/] {message}", markup=True, highlight=False, soft_wrap=True
    )
    raise typer.Exit(code)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the known user errors raised inside the block into a clean exit."""
    try:
        yield
    except USER_ERRORS as exc:
        from newsletter.segment_rules import RuleError

        if isinstance(exc, RuleError):
            err_console.print(exc.pointer(), markup=False)
        fail(str(exc))


# Stores already checked by the running command (a command opens the store
# several times; ``newsletter send`` three times before its task is published).
# Emptied when a command starts (``newsletter.cli.main``), so that commands run
# one after another in one process (tests) each check again.
_prepared: set[str] = set()


def prepare_store() -> Engine:
    """Return the engine, migrating an empty database; refuse a stale schema.

    An empty database is initialised on first use (nothing can be lost); a
    database at an older revision is left for ``newsletter init`` so that a
    production upgrade is always a deliberate step.  Alembic is imported only
    when there is something to migrate (it costs ~0.1 s of start-up).  Checked
    once per store and command.
    """
    from newsletter.db import get_engine
    from newsletter.migrate import current_revision, head_revision

    engine = get_engine()
    key = engine.url.render_as_string(hide_password=False)
    if key in _prepared:
        return engine
    revision = current_revision(engine)
    if revision is None:
        initialise(engine)
    elif revision != head_revision():
        fail(f"the store is at schema {revision}, not {head_revision()}: run `newsletter init`")
    _prepared.add(key)
    return engine


def forget_prepared_stores() -> None:
    """Check every store again on its next use (a new command starts)."""
    _prepared.clear()


def require_secret() -> None:
    """Exit with a clear message unless the secret key may sign public links.

    ``newsletter web`` and ``newsletter worker`` call this before starting:
    with no key set, a SQLite store gets a generated one beside it (as
    ``newsletter init`` does); a missing, published or short key is refused.
    """
    from newsletter.config import ensure_secret_key, get_settings, reset_settings, secret_problem

    if ensure_secret_key(get_settings()) is not None:
        reset_settings()
    problem = secret_problem(get_settings())
    if problem is not None:
        fail(f"refusing to start: {problem}")


def initialise(engine: Engine) -> None:
    """Migrate to head and create the built-in segments; idempotent."""
    from newsletter.db import session_scope
    from newsletter.migrate import upgrade_to_head
    from newsletter.segments import ensure_builtins

    upgrade_to_head(engine)
    with session_scope(engine) as session:
        ensure_builtins(session)


@contextmanager
def store() -> Iterator[Session]:
    """A session on the prepared store, committed on success; user errors exit cleanly."""
    from newsletter.db import session_scope

    engine = prepare_store()
    with user_errors(), session_scope(engine) as session:
        yield session


def print_json(value: Any) -> None:
    """Print ``value`` as JSON on stdout, exactly (no rich markup or wrapping)."""
    typer.echo(json.dumps(value, ensure_ascii=False, indent=2))


def confirm(question: str, *, yes: bool) -> None:
    """Ask before something irreversible: ``--yes`` answers it, else a terminal must.

    Without ``--yes`` and without a terminal on stdin (a script, a pipe), exits 2
    telling the user to add ``--yes``; a "no" at the prompt exits 1, nothing done.
    """
    if yes:
        return
    if not sys.stdin.isatty():
        fail(f"{question} Not confirmed: add --yes to do it without a terminal.")
    if not typer.confirm(question, default=False, err=True):
        fail("nothing was done", code=1)


def print_table(table: Table) -> None:
    """Print ``table``: drawn by rich on a terminal, else whole, as tab-separated lines.

    For pipes and files (``| grep``, ``> file``) the first line holds the
    column names and each row follows with its cells complete: nothing is
    truncated or wrapped, whatever the width.  Tabs and line breaks inside a
    cell become spaces.
    """
    if sys.stdout.isatty():
        console.print(table)
        return
    columns = table.columns
    typer.echo("\t".join(_cell(c.header) for c in columns))
    for row in zip(*(list(c.cells) for c in columns), strict=True):
        typer.echo("\t".join(_cell(value) for value in row))


def _cell(value: object) -> str:
    text = value.plain if isinstance(value, Text) else str(value)
    return " ".join(text.replace("\t", " ").splitlines())
