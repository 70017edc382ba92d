"""Build only the Click command a run needs.

Typer turns every command's signature into Click parameters before parsing: for the
~200 options of ask, chat, cmd and batch that is most of `--help`'s time. A run
names one command, so only that one is built in full, alone when it comes first; else
the others become stubs that carry just their name and help line (what the top-level
help lists). Shell completion walks the whole tree, so it still gets everything.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Sequence
from typing import Any


def _stub() -> None:
    """Never run: a placeholder for a command that is only listed."""


def _name(info: Any) -> str:
    callback = info.callback
    return str(info.name or (callback.__name__.replace("_", "-") if callback else ""))


def click_command(args: Sequence[str], *, completing: bool = False) -> Any:
    """The Click command for `args`; all of it when the shell is `completing`."""
    import typer.main

    from aimlchat.cli.app import cli

    if completing:  # completion walks the whole tree
        for info in cli.registered_commands:
            _built(info)
        return typer.main.get_command(cli)
    wanted = next((a for a in args if not a.startswith("-")), None)
    app = copy.copy(cli)
    if args and args[0] == wanted:
        named = [info for info in cli.registered_commands if _name(info) == wanted]
        if named:  # `aimlchat ask …`: Click needs no other command to run this one
            app.registered_commands, app.registered_groups = [_built(named[0])], []
            return typer.main.get_command(app)
    app.registered_commands = [
        _built(info) if _name(info) == wanted else _stubbed(info)
        for info in cli.registered_commands
    ]
    app.registered_groups = [
        group if group.name == wanted else _stubbed_group(group) for group in cli.registered_groups
    ]
    return typer.main.get_command(app)


def _stubbed_group(group: Any) -> Any:
    stub = copy.copy(group)
    stub.typer_instance = copy.copy(group.typer_instance)
    stub.typer_instance.registered_commands = [
        _stubbed(info) for info in group.typer_instance.registered_commands
    ]
    return stub


def _built(info: Any) -> Any:
    from aimlchat.cli.options import with_options

    if info.callback is not None:
        with_options(info.callback)
    return info


def _stubbed(info: Any) -> Any:
    stub = copy.copy(info)
    stub.name = _name(info)
    stub.help = info.help or inspect.getdoc(info.callback) or ""
    stub.callback = _stub
    return stub
