"""``newsletter web`` and ``newsletter users …``: the web app and its organisers.

The lead registers them in ``newsletter/cli/__init__.py``::

    app.command("web")(web_cmds.web_command)
    app.add_typer(web_cmds.users_app, name="users")
"""

from __future__ import annotations

import sys

import typer
from rich.table import Table

from newsletter.cli.common import (
    console,
    fail,
    prepare_store,
    print_json,
    print_table,
    require_secret,
    store,
)

# newsletter.organisers.DEFAULT_TOKEN_DAYS, written out so that the help does
# not load the store (tests/test_startup.py checks the two agree).
TOKEN_DAYS = 90

users_app = typer.Typer(help="Organisers who use the console and the API.", no_args_is_help=True)


def web_command(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", help="Port to listen on."),
    proxy: bool = typer.Option(
        False,
        "--behind-proxy",
        help="Trust X-Forwarded-For/-Proto from the local reverse proxy (client addresses "
        "for rate limits and consent records).",
    ),
) -> None:
    """Serve the public pages, the organiser console and the API (uvicorn).

    Without NEWSLETTER_BROKER_URL the embedded worker runs in the same process,
    so scheduled sends go out with nothing else running.
    """
    import uvicorn

    from newsletter.config import get_settings
    from newsletter.organisers import count_organisers
    from newsletter.web import create_app

    prepare_store()
    require_secret()
    settings = get_settings()
    with store() as session:
        if count_organisers(session) == 0:
            console.print(
                "No organiser yet: create one with `newsletter users add EMAIL` to use /console."
            )
    console.print(f"Serving on http://{host}:{port} (public links use {settings.base_url}).")
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        proxy_headers=proxy,
        forwarded_allow_ips="127.0.0.1" if proxy else None,
        log_level="info",
    )


def _password(given: str | None) -> str:
    if given:
        return given
    value: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return value


@users_app.command("add")
def add_user(
    email: str = typer.Argument(..., help="The organiser's email address (their login)."),
    password: str | None = typer.Option(
        None,
        "--password",
        envvar="NEWSLETTER_ORGANISER_PASSWORD",
        help="Prompted for (hidden) when not given; or set NEWSLETTER_ORGANISER_PASSWORD.",
        show_default=False,
    ),
) -> None:
    """Create an organiser with an argon2-hashed password."""
    from newsletter.organisers import OrganiserError, create_organiser

    secret = _password(password)
    with store() as session:
        try:
            organiser = create_organiser(session, email, secret)
        except OrganiserError as exc:
            fail(str(exc))
        address = organiser.email
    console.print(f"Organiser {address} created.", markup=False)


@users_app.command("password")
def change_password(
    email: str = typer.Argument(...),
    password: str | None = typer.Option(
        None, "--password", envvar="NEWSLETTER_ORGANISER_PASSWORD", show_default=False
    ),
) -> None:
    """Set a new password; ends the organiser's console sessions and revokes their API tokens."""
    from newsletter.organisers import OrganiserError, find_organiser, set_password

    secret = _password(password)
    with store() as session:
        try:
            organiser = find_organiser(session, email)
            if organiser is None:
                fail(f"no organiser {email}")
            set_password(session, organiser, secret)
        except OrganiserError as exc:
            fail(str(exc))
    console.print("Password changed.")


@users_app.command("token")
def new_token(
    email: str = typer.Argument(..., help="The organiser the token acts for."),
    revoke: bool = typer.Option(False, "--revoke-others", help="Revoke their other tokens."),
    name: str = typer.Option("", "--name", help="What the token is for (shown in listings)."),
    days: int = typer.Option(TOKEN_DAYS, "--days", help="Days until the token expires (1 to 366)."),
) -> None:
    """Print a new API bearer token (shown once; only its SHA-256 is stored)."""
    from newsletter.organisers import (
        get_organiser,
        issue_token,
        revoke_tokens,
    )

    with store() as session:
        organiser = get_organiser(session, email)
        if revoke:
            revoke_tokens(session, organiser)
        token = issue_token(session, organiser, name=name, days=days)
    typer.echo(token)


@users_app.command("tokens")
def show_tokens(email: str = typer.Argument(..., help="Whose tokens to list.")) -> None:
    """List an organiser's API tokens: id, name, created, expires, last used, state."""
    from newsletter.organisers import get_organiser, list_tokens

    with store() as session:
        tokens = list_tokens(session, get_organiser(session, email))
    table = Table(title=f"API tokens of {email}")
    for column in ("id", "name", "created", "expires", "last used", "state"):
        table.add_column(column)
    for info in tokens:
        table.add_row(
            str(info.id),
            info.name,
            info.created_at.strftime("%Y-%m-%d"),
            info.expires_at.strftime("%Y-%m-%d") if info.expires_at else "never",
            info.last_used_at.strftime("%Y-%m-%d %H:%M") if info.last_used_at else "never",
            info.state(),
        )
    console.print(table)


@users_app.command("revoke")
def revoke(
    email: str = typer.Argument(..., help="Whose token to revoke."),
    token_id: int | None = typer.Argument(None, help="The token's id (`users tokens`)."),
    all_tokens: bool = typer.Option(False, "--all", help="Revoke every token they have."),
) -> None:
    """Revoke one API token by id, or all of an organiser's tokens with --all."""
    from newsletter.organisers import get_organiser, revoke_token, revoke_tokens

    if (token_id is None) == (not all_tokens):
        fail("give a token id or --all")
    with store() as session:
        organiser = get_organiser(session, email)
        if all_tokens:
            count = revoke_tokens(session, organiser)
            message = f"Revoked {count} token(s) of {organiser.email}."
        else:
            assert token_id is not None
            revoke_token(session, organiser, token_id)
            message = f"Revoked token {token_id} of {organiser.email}."
    console.print(message, markup=False)


@users_app.command("disable")
def disable_user(email: str = typer.Argument(...)) -> None:
    """Stop an organiser signing in or using API tokens; ends their sessions at once."""
    from newsletter.organisers import disable, get_organiser

    with store() as session:
        disable(session, get_organiser(session, email))
    console.print(f"Organiser {email} disabled; their sessions have ended.", markup=False)


@users_app.command("enable")
def enable_user(email: str = typer.Argument(...)) -> None:
    """Let a disabled organiser sign in and use their unexpired tokens again."""
    from newsletter.organisers import enable, get_organiser

    with store() as session:
        enable(session, get_organiser(session, email))
    console.print(f"Organiser {email} enabled.", markup=False)


@users_app.command("remove")
def remove_user(
    email: str = typer.Argument(...),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Delete an organiser and their API tokens (cannot be undone; asks first)."""
    from newsletter.organisers import get_organiser, remove

    if not yes:
        if not sys.stdin.isatty():
            fail("removing an organiser cannot be undone: pass --yes to confirm in scripts")
        if not typer.confirm(f"Remove organiser {email} and their API tokens?", default=False):
            fail("nothing removed")
    with store() as session:
        remove(session, get_organiser(session, email))
    console.print(f"Organiser {email} removed.", markup=False)


@users_app.command("list")
def list_users(json_output: bool = typer.Option(False, "--json")) -> None:
    """List organisers with their state and number of live API tokens."""
    from newsletter.display import uk_time
    from newsletter.organisers import summaries

    with store() as session:
        rows = summaries(session)
    if json_output:
        print_json(
            [
                {
                    "email": row.email,
                    "created_at": row.created_at.isoformat(),
                    "disabled": row.disabled,
                    "tokens": row.live_tokens,
                }
                for row in rows
            ]
        )
        return
    table = Table(title="Organisers")
    for column in ("email", "created", "state", "live tokens"):
        table.add_column(column)
    for row in rows:
        state = "disabled" if row.disabled else "enabled"
        table.add_row(row.email, uk_time(row.created_at), state, str(row.live_tokens))
    print_table(table)
