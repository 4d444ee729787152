"""The ``newsletter`` command line (Typer).

Each group of commands lives in its own module; this one only assembles them.
"""

from __future__ import annotations

import typer

from newsletter.cli import (
    bounce_cmds,
    demo_cmds,
    event_cmds,
    render_cmds,
    segment_cmds,
    send_cmds,
    store_cmds,
    subscriber_cmds,
    update_cmds,
    web_cmds,
    worker_cmds,
)

app = typer.Typer(
    help="Newsletter and event notifications for regional children's services networks.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.command("config")(store_cmds.config_command)
app.command("init")(store_cmds.init_command)
app.command("demo")(demo_cmds.demo_command)
app.add_typer(subscriber_cmds.app, name="subscribers")
app.add_typer(segment_cmds.app, name="segments")
app.command("ingest")(update_cmds.ingest_command)
app.add_typer(update_cmds.updates_app, name="updates")
app.add_typer(event_cmds.app, name="events")
app.command("render")(render_cmds.render_command)
app.command("preview")(render_cmds.preview_command)
app.command("send")(send_cmds.send_command)
app.command("invite")(send_cmds.invite_command)
app.add_typer(send_cmds.app, name="sends")
app.command("worker")(worker_cmds.worker_command)
app.command("beat")(worker_cmds.beat_command)
app.add_typer(bounce_cmds.bounces_app, name="bounces")
app.add_typer(bounce_cmds.suppressions_app, name="suppressions")
app.command("web")(web_cmds.web_command)
app.add_typer(web_cmds.users_app, name="users")
