"""What every command needs from the run it is part of: the injected Environment and
the objects built from it. Kept apart so the command modules share one way of doing it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from aimlchat.settings.config import Paths
    from aimlchat.terminal.environment import Environment
    from aimlchat.terminal.notify import Notifier
    from aimlchat.terminal.output import Output


def env_of(ctx: typer.Context) -> Environment:
    """The Environment `main` injected (streams, TTY flags, the process environment)."""
    env: Environment = ctx.find_root().obj
    return env


def out_of(ctx: typer.Context) -> Output:
    from aimlchat.terminal.output import Output

    return Output(env_of(ctx))


def notifier_of(env: Environment) -> Notifier:
    from aimlchat.terminal.notify import Notifier

    return Notifier(env)


def paths_of(ctx: typer.Context) -> Paths:
    from aimlchat.settings.config import Paths

    return Paths.from_env(env_of(ctx).environ)
