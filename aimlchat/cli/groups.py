"""`aimlchat history | key | config`: the small command groups. Parse and wire only."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from aimlchat.cli.wiring import env_of as _env
from aimlchat.cli.wiring import notifier_of as _notifier
from aimlchat.cli.wiring import out_of as _out
from aimlchat.cli.wiring import paths_of as _paths

if TYPE_CHECKING:
    from aimlchat.commands.history import HistoryView

# An all-digit REF is an id, anything else a name (names cannot be all digits).
REF = "ID|NAME"

history_cli = typer.Typer(
    help="Browse saved conversations.", no_args_is_help=True, rich_markup_mode=None
)
key_cli = typer.Typer(
    help="Manage the stored API key.", no_args_is_help=True, rich_markup_mode=None
)
config_cli = typer.Typer(
    help="Show or edit config.toml.", no_args_is_help=True, rich_markup_mode=None
)

# -- history --------------------------------------------------------------------------


def _history(ctx: typer.Context) -> HistoryView:
    from aimlchat.commands.history import HistoryView
    from aimlchat.commands.runtime import App
    from aimlchat.settings.resolve import Flags

    return HistoryView(App(Flags(), _env(ctx)))


@history_cli.command("list")
def history_list(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", "-l", min=1, help="How many.")] = 20,
) -> None:
    """List recent conversations.  Example: aimlchat history list -l 5"""
    _history(ctx).list(limit=limit)


@history_cli.command("show")
def history_show(
    ctx: typer.Context,
    ref: Annotated[
        str | None, typer.Argument(metavar=f"[{REF}]", help="Id or name; latest if omitted.")
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Include undone and replaced.")] = False,
    ids: Annotated[
        bool,
        typer.Option("--ids", help="Each reply's cost, inference id and client request id."),
    ] = False,
) -> None:
    """Show one conversation.  Example: aimlchat history show 3"""
    _history(ctx).show(ref, all_statuses=all_, ids=ids)


@history_cli.command("search")
def history_search(
    ctx: typer.Context,
    text: Annotated[
        str, typer.Argument(metavar="TEXT", help="Words to find, as typed (any order).")
    ],
    limit: Annotated[int, typer.Option("--limit", "-l", min=1, help="How many hits.")] = 20,
) -> None:
    """Find messages and names containing every word of TEXT, newest first.

    \b
    Examples:
      aimlchat history search docker
      aimlchat history search 'said "hello"' -l 5
    """
    _history(ctx).search(text, limit=limit)


@history_cli.command("export")
def history_export(
    ctx: typer.Context,
    ref: Annotated[
        str | None, typer.Argument(metavar=f"[{REF}]", help="Id or name; latest if omitted.")
    ] = None,
    format_: Annotated[str, typer.Option("--format", "-f", help="md or json.")] = "md",
    every: Annotated[
        bool,
        typer.Option(
            "--all",
            help="Every conversation, oldest first (json: one array; md: one after another).",
        ),
    ] = False,
) -> None:
    """Print a conversation as Markdown or JSON.  Example: aimlchat history export 3 -f json"""
    _history(ctx).export(ref, format_, every=every)


@history_cli.command("rm")
def history_rm(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(metavar=REF, help="Id or name.", show_default=False)],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask first.")] = False,
) -> None:
    """Delete a conversation. On a terminal it asks first, unless -y; when stdin is not
    a terminal (a script) it deletes at once.

    \b
    Examples:
      aimlchat history rm 3
      aimlchat history rm -y old-notes
    """
    _history(ctx).remove(ref, yes=yes)


# -- key ------------------------------------------------------------------------------


@key_cli.command("set")
def key_set(ctx: typer.Context) -> None:
    """Store the API key (hidden prompt, or from stdin).  Example: aimlchat key set"""
    from aimlchat.settings.keys import save_key

    env = _env(ctx)
    if env.stdin_tty:
        import getpass

        key = getpass.getpass("AI/ML API key (input hidden): ")
    else:
        key = env.stdin.readline()
    path = _paths(ctx).key_file
    save_key(path, key)
    _notifier(env).info(f"key saved to {path} (mode 0600)")
    if env.environ.get("AIML_API_KEY", "").strip():
        _notifier(env).warn("AIML_API_KEY is set and wins over the saved key; unset it to use it")


@key_cli.command("path")
def key_path(ctx: typer.Context) -> None:
    """Print where the key file lives.  Example: aimlchat key path"""
    _out(ctx).data(f"{_paths(ctx).key_file}\n")


@key_cli.command("remove")
def key_remove(ctx: typer.Context) -> None:
    """Delete the stored key.  Example: aimlchat key remove"""
    from aimlchat.settings.keys import remove_key

    path = _paths(ctx).key_file
    notifier = _notifier(_env(ctx))
    notifier.info(f"removed {path}" if remove_key(path) else f"no key file at {path}")


# -- config ---------------------------------------------------------------------------


@config_cli.command("path")
def config_path(ctx: typer.Context) -> None:
    """Print where config.toml lives.  Example: aimlchat config path"""
    _out(ctx).data(f"{_paths(ctx).config_file}\n")


@config_cli.command("show")
def config_show(
    ctx: typer.Context,
    json_: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print each effective setting and where it came from (flag, env, config.toml, default),
    secrets masked; a broken config.toml is shown with its errors, then exit 3.

    \b
    Examples:
      aimlchat config show
      aimlchat config show --json | jq '.settings.model'
    """
    from aimlchat.commands.config import show_config

    show_config(_paths(ctx), _env(ctx), as_json=json_)


@config_cli.command("edit")
def config_edit(ctx: typer.Context) -> None:
    """Open config.toml in $EDITOR, then check it.  Example: aimlchat config edit"""
    from aimlchat.commands.config import edit_config

    edit_config(_paths(ctx), _env(ctx))
