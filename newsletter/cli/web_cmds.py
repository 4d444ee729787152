"""``newsletter web`` and ``newsletter users …``: the web app and its organisers.

The lead registers them in ``newsletter/cli/__init__.py``::

    app.command("web")(web_cmds.web_command)
    app.add_typer(web_cmds.users_app, name="users")
"""

from __future__ import annotations

import typer
from rich.table import Table

from newsletter.cli.common import console, fail, prepare_store, store

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
    from sqlalchemy import func, select

    from newsletter.config import get_settings
    from newsletter.models import Organiser
    from newsletter.web import create_app

    prepare_store()
    settings = get_settings()
    with store() as session:
        if session.scalar(select(func.count()).select_from(Organiser)) == 0:
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
    """Set a new password (ends the organiser's console sessions)."""
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
    revoke: bool = typer.Option(False, "--revoke-others", help="Delete their other tokens."),
) -> None:
    """Print a new API bearer token (shown once; only its SHA-256 is stored)."""
    from newsletter.organisers import OrganiserError, find_organiser, issue_token, revoke_tokens

    with store() as session:
        try:
            organiser = find_organiser(session, email)
        except OrganiserError as exc:
            fail(str(exc))
        if organiser is None:
            fail(f"no organiser {email}: create one with `newsletter users add {email}`")
        if revoke:
            revoke_tokens(session, organiser)
        token = issue_token(session, organiser)
    typer.echo(token)


@users_app.command("list")
def list_users() -> None:
    """List organisers with their number of API tokens."""
    from sqlalchemy import func, select

    from newsletter.models import ApiToken, Organiser

    with store() as session:
        rows = session.execute(
            select(Organiser.email, Organiser.created_at, func.count(ApiToken.id))
            .outerjoin(ApiToken, ApiToken.organiser_id == Organiser.id)
            .group_by(Organiser.id)
            .order_by(Organiser.email)
        ).all()
    table = Table(title="Organisers")
    for column in ("email", "created", "tokens"):
        table.add_column(column)
    for email, created, tokens in rows:
        table.add_row(email, created.strftime("%Y-%m-%d"), str(tokens))
    console.print(table)
