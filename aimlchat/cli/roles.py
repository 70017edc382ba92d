"""`aimlchat roles list | show | edit`: parsed here, run by `aimlchat.commands.roles`.

Registered in `aimlchat.cli.app` by one line, as `batch` is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from aimlchat.cli.complete import complete_role
from aimlchat.cli.wiring import env_of as _env

if TYPE_CHECKING:
    from aimlchat.commands.runtime import App

roles_cli = typer.Typer(
    help="List, show or edit roles: a system prompt, and maybe a model, params and tools.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

JSON = typer.Option("--json", help="Print JSON.")


def _app(ctx: typer.Context) -> App:
    from aimlchat.commands.runtime import App
    from aimlchat.settings.resolve import Flags

    return App(Flags(), _env(ctx))


@roles_cli.command("list")
def roles_list(ctx: typer.Context, json_: Annotated[bool, JSON] = False) -> None:
    """List the roles: config.toml's and the built-in ones (cmd, code).

    \b
    Examples:
      aimlchat roles list
      aimlchat roles list | cut -f1
    """
    from aimlchat.commands.roles import list_roles

    list_roles(_app(ctx), as_json=json_)


@roles_cli.command("show")
def roles_show(
    ctx: typer.Context,
    name: Annotated[
        str, typer.Argument(metavar="ROLE", help="The role.", autocompletion=complete_role)
    ],
    json_: Annotated[bool, JSON] = False,
) -> None:
    """Show what a role sets and the -v its prompt needs.  Example: aimlchat roles show cmd"""
    from aimlchat.commands.roles import show_role

    show_role(_app(ctx), name, as_json=json_)


@roles_cli.command("edit")
def roles_edit(
    ctx: typer.Context,
    name: Annotated[
        str | None,
        typer.Argument(
            metavar="[NAME]", help="Add this role first if it is new.", autocompletion=complete_role
        ),
    ] = None,
) -> None:
    """Open config.toml in $EDITOR (a new NAME gets a stub at its end), then check it.

    \b
    Examples:
      aimlchat roles edit translate     adds [roles.translate] if missing
      aimlchat roles edit cmd           change the built-in cmd role (model, params)
    """
    from aimlchat.commands.roles import edit_roles
    from aimlchat.settings.config import Paths

    env = _env(ctx)
    edit_roles(Paths.from_env(env.environ), env, name)
