"""The ``newsletter`` command line (Typer).

Each group of commands lives in its own module; this one only names them.
A command's module is imported when that command runs (or when help lists
it), never otherwise: ``newsletter send`` loads the sending commands only,
not the web server's, the renderer's or the bounce mailbox's (about 0.05 s
of its start-up, docs/performance.md "Time to first message").
"""

from __future__ import annotations

import importlib
from typing import Any

import typer
from typer.core import TyperGroup
from typer.main import get_command_from_info, get_group
from typer.models import CommandInfo

# Command name → (module in newsletter.cli, attribute): a function is one
# command, a Typer app a group of them.  In the order help lists them
# (commands first, then groups, as Typer orders them).
COMMANDS: dict[str, tuple[str, str]] = {
    "config": ("store_cmds", "config_command"),
    "init": ("store_cmds", "init_command"),
    "demo": ("demo_cmds", "demo_command"),
    "ingest": ("update_cmds", "ingest_command"),
    "render": ("render_cmds", "render_command"),
    "preview": ("render_cmds", "preview_command"),
    "send": ("send_cmds", "send_command"),
    "invite": ("send_cmds", "invite_command"),
    "worker": ("worker_cmds", "worker_command"),
    "beat": ("worker_cmds", "beat_command"),
    "web": ("web_cmds", "web_command"),
    "subscribers": ("subscriber_cmds", "app"),
    "segments": ("segment_cmds", "app"),
    "updates": ("update_cmds", "updates_app"),
    "events": ("event_cmds", "app"),
    "sends": ("send_cmds", "app"),
    "bounces": ("bounce_cmds", "bounces_app"),
    "suppressions": ("bounce_cmds", "suppressions_app"),
    "users": ("web_cmds", "users_app"),
}


class LazyCommands(TyperGroup):
    """The top-level group: builds a command from its module only when it is asked for.

    The context and command types are those of the Click that Typer uses
    (its own copy in recent versions), hence ``Any`` here.
    """

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        if args and args[0] not in COMMANDS:
            # A typo: build every command, so that the error suggests the nearest names.
            for name in COMMANDS:
                self.get_command(ctx, name)
        return super().resolve_command(ctx, args)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        built = self.commands.get(cmd_name)
        if built is not None or cmd_name not in COMMANDS:
            return built
        module, attribute = COMMANDS[cmd_name]
        target = getattr(importlib.import_module(f"newsletter.cli.{module}"), attribute)
        if isinstance(target, typer.Typer):
            group = get_group(target)
            group.name = cmd_name
            self.commands[cmd_name] = group
        else:
            self.commands[cmd_name] = get_command_from_info(
                CommandInfo(name=cmd_name, callback=target),
                pretty_exceptions_short=True,
                rich_markup_mode=self.rich_markup_mode,
            )
        return self.commands[cmd_name]


app = typer.Typer(
    cls=LazyCommands,
    help="Newsletter and event notifications for regional children's services networks.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def main() -> None:
    """Newsletter and event notifications for regional children's services networks."""
    from newsletter.cli.common import forget_prepared_stores

    forget_prepared_stores()
