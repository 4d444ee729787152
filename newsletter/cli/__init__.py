"""The ``newsletter`` command line (Typer).

Each group of commands lives in its own module; this one only assembles them.
"""

from __future__ import annotations

import typer

from newsletter.cli import segment_cmds, store_cmds, subscriber_cmds

app = typer.Typer(
    help="Newsletter and event notifications for regional children's services networks.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.command("config")(store_cmds.config_command)
app.command("init")(store_cmds.init_command)
app.add_typer(subscriber_cmds.app, name="subscribers")
app.add_typer(segment_cmds.app, name="segments")
