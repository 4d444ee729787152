"""What every CLI command shares: consoles, the store, and user-facing errors.

Start-up time is part of every command (docs/performance.md, "Time to first
message"), so the CLI imports only what the command it runs needs: this
module and the command modules import the store, the domain and the
dispatch engine inside the functions that use them, never at the top.
``tests/test_startup.py`` holds the line.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich.console import Console

from newsletter.errors import UserError

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

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


def prepare_store() -> Engine:
    """Return the engine, migrating an empty database; refuse a stale schema.

    An empty database is initialised on first use (nothing can be lost); a
    database at an older revision is left for ``newsletter init`` so that a
    production upgrade is always a deliberate step.  Alembic is imported only
    when there is something to migrate (it costs ~0.1 s of start-up).
    """
    from newsletter.db import get_engine
    from newsletter.migrate import current_revision, head_revision

    engine = get_engine()
    revision = current_revision(engine)
    if revision is None:
        initialise(engine)
    elif revision != head_revision():
        fail(f"the store is at schema {revision}, not {head_revision()}: run `newsletter init`")
    return engine


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
