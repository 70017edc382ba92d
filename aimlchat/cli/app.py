"""The Typer app: parse and wire. No error handling here: `aimlchat.cli.main` is the one
boundary. The only typer importer besides `aimlchat.cli.options`.

Heavy modules (requests, rich, prompt_toolkit) are imported inside the commands that
need them, so `--help` and `--version` stay as fast as typer itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from aimlchat import __version__
from aimlchat.cli.groups import config_cli, history_cli, key_cli
from aimlchat.cli.options import request_options, request_options_from, request_options_without
from aimlchat.cli.roles import roles_cli
from aimlchat.cli.wiring import env_of as _env
from aimlchat.cli.wiring import out_of as _out
from aimlchat.errors import UsageError

if TYPE_CHECKING:
    from aimlchat.commands.runtime import App

EXIT_CODES = """\b
Exit codes:
  0 ok · 1 API error · 2 usage · 3 auth/config · 4 network
  5 rate-limited · 130 interrupted (Ctrl-C) · 141 stdout closed · 143 terminated"""

EXAMPLES = """\b
Examples:
  aimlchat "Hello"                  same as: aimlchat ask "Hello"
  git diff | aimlchat "write a commit message" > msg.txt
  aimlchat                          chat on a terminal (aimlchat chat)
  aimlchat chat --continue
  aimlchat models llama --pricing
  aimlchat ask models               a prompt that equals a command name"""

cli = typer.Typer(
    name="aimlchat",
    help=f"A terminal client for the AI/ML API.\n\n{EXAMPLES}\n\n{EXIT_CODES}",
    rich_markup_mode=None,  # rich help imports rich.markdown: 2.5x slower --help
    pretty_exceptions_enable=False,
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
cli.add_typer(history_cli, name="history")
cli.add_typer(key_cli, name="key")
cli.add_typer(config_cli, name="config")
cli.add_typer(roles_cli, name="roles")  # aimlchat.cli.roles: list, show, edit


def _app(ctx: typer.Context, kw: dict[str, Any]) -> App:
    from aimlchat.commands.runtime import App

    return App(request_options_from(kw), _env(ctx))


# -- commands -------------------------------------------------------------------------


def _version(ctx: typer.Context, value: bool) -> None:
    if value:
        _out(ctx).data(f"aimlchat {__version__}\n")
        raise typer.Exit()


@cli.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", "-V", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    pass


@cli.command(epilog=EXIT_CODES)
@request_options
def ask(
    ctx: typer.Context,
    prompt: Annotated[
        list[str] | None,
        typer.Argument(
            help="The prompt (joined by spaces).", metavar="PROMPT...", show_default=False
        ),
    ] = None,
    *,
    no_stdin: Annotated[bool, typer.Option("--no-stdin", help="Ignore stdin.")] = False,
    json_: Annotated[bool, typer.Option("--json", help="Print the full JSON response.")] = False,
    ndjson: Annotated[bool, typer.Option("--ndjson", help="One JSON event per line.")] = False,
    extract: Annotated[
        bool, typer.Option("--extract", "-x", help="Print only the first code block's content.")
    ] = False,
    extract_last: Annotated[
        bool, typer.Option("--extract-last", help="Print only the last code block's content.")
    ] = False,
    **kw: Any,
) -> None:
    """Ask once and print the reply.

    \b
    Examples:
      aimlchat ask "Hello"
      git diff | aimlchat ask "write a commit message" > msg.txt
      aimlchat ask "what is in this picture" -a photo.png
      aimlchat ask "summarise {stdin} in one line" < notes.txt
      aimlchat ask "review this" -f src/ -f README.md
      aimlchat ask -x "a jq filter for the names" | tee names.jq
      aimlchat ask -r translate -v lang=French "good morning"
    """
    from aimlchat.commands.ask import AskOutput, run_ask

    if extract and extract_last:
        raise UsageError("use -x or --extract-last, not both")
    run_ask(
        _app(ctx, kw),
        AskOutput(
            prompt=list(prompt or []),
            no_stdin=no_stdin,
            json=json_,
            ndjson=ndjson,
            extract="last" if extract_last else "first" if extract else None,
        ),
    )


@cli.command(epilog=EXIT_CODES)
@request_options
def chat(
    ctx: typer.Context,
    message: Annotated[
        list[str] | None,
        typer.Argument(
            help="A first message, sent at once (joined by spaces).",
            metavar="[MESSAGE]...",
            show_default=False,
        ),
    ] = None,
    **kw: Any,
) -> None:
    """Chat in an interactive REPL; /help lists the slash commands.

    \b
    Examples:
      aimlchat chat
      aimlchat chat "review this" -f src/app.py
      aimlchat chat --continue
      aimlchat chat --session work -m meta-llama/llama-4-scout
    """
    env = _env(ctx)
    if not env.stdin_tty or not env.stdout_tty:
        raise UsageError("chat needs a terminal", hint='for pipes use: aimlchat ask "…"')
    from aimlchat.commands.repl import run_chat

    run_chat(_app(ctx, kw), " ".join(message or []) or None)


# What `cmd` does not offer: it never runs anything unasked (no --yes, no tools), and a
# command is one fresh exchange (no --continue or --session), in plain text (no --format),
# with no web search (config.toml's web_search is ignored: commands.cmd).
CMD_WITHOUT = (
    *("yes", "tool", "max_steps", "continue_", "session", "format", "schema", "web_search"),
    "max_cost",  # one exchange: max_cost_per_day still holds
)


@cli.command(epilog=EXIT_CODES)
@request_options_without(*CMD_WITHOUT)
def cmd(
    ctx: typer.Context,
    request: Annotated[
        list[str] | None,
        typer.Argument(
            help="What the command should do (joined by spaces).",
            metavar="REQUEST...",
            show_default=False,
        ),
    ] = None,
    **kw: Any,
) -> None:
    """Suggest one shell command, and run it only if you say so.

    On a terminal: the command, then e execute · r revise · d describe · c copy · a abort.
    Otherwise it is printed and never run. Exit status: the command's own when it ran
    and failed; 130 for Ctrl-C at the menu; else 0.

    \b
    Examples:
      aimlchat cmd "find files over 100 MB changed this week"
      aimlchat cmd "list listening ports" > cmd.sh
    """
    from aimlchat.commands.cmd import run_cmd

    if kw["role"] is None and kw["system"] is None:
        kw["role"] = "cmd"  # the built-in role (config.toml may replace it)
    status = run_cmd(_app(ctx, kw), list(request or []))
    if status:
        raise SystemExit(status)  # as is: no "interrupted" line for the command's own 130


# `batch` lives in aimlchat.cli.batch (its own options); registered here, after `chat`.
from aimlchat.cli.batch import batch  # noqa: E402

cli.command(epilog=EXIT_CODES)(batch)


def _allow_insecure() -> Any:
    """As `ask` has it (cli.options): plain http to another host (a LAN server)."""
    return typer.Option("--allow-insecure", help="Allow the key over plain http.")


@cli.command()
def models(
    ctx: typer.Context,
    search: Annotated[
        str | None, typer.Argument(metavar="[SEARCH]", help="Filter by id, alias or name.")
    ] = None,
    pricing: Annotated[bool, typer.Option("--pricing", help="Price per 1M tokens.")] = False,
    vision: Annotated[bool, typer.Option("--vision", help="Only image-input models.")] = False,
    all_: Annotated[bool, typer.Option("--all", help="Every type, not only chat.")] = False,
    deprecated: Annotated[
        bool, typer.Option("--deprecated", help="The models being retired, and their successors.")
    ] = False,
    json_: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    base_url: Annotated[str | None, typer.Option(help="API base URL.")] = None,
    timeout: Annotated[float | None, typer.Option(help="Seconds to wait.")] = None,
    no_color: Annotated[bool, typer.Option("--no-color", help="No colour.")] = False,
    allow_insecure: Annotated[bool, _allow_insecure()] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Log requests.")] = False,
) -> None:
    """List the live model catalogue (cached; revalidated with its ETag).

    \b
    Examples:
      aimlchat models llama --pricing
      aimlchat models --vision
      aimlchat models --json | jq -r '.[].id'
      aimlchat models --deprecated
    """
    from aimlchat.commands.models import show_deprecated, show_models
    from aimlchat.commands.runtime import App
    from aimlchat.settings.resolve import Flags

    opts = Flags(
        base_url=base_url,
        timeout=timeout,
        debug=debug,
        no_color=no_color,
        allow_insecure=allow_insecure,
    )
    if deprecated:
        show_deprecated(App(opts, _env(ctx)), search=search, as_json=json_)
        return
    show_models(
        App(opts, _env(ctx)),
        search=search,
        pricing=pricing,
        vision=vision,
        all_types=all_,
        as_json=json_,
    )


@cli.command()
def usage(
    ctx: typer.Context,
    period: Annotated[
        str | None,
        typer.Option("--period", "-p", metavar="24h|7d|30d", help="The last hours or days [7d]."),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(metavar="DATE", help="Window start: an ISO date (a UTC day) or time."),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(metavar="DATE", help="Window end, that day included [now]."),
    ] = None,
    by: Annotated[
        str | None, typer.Option("--by", metavar="model|day", help="Split the spend.")
    ] = None,
    json_: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    base_url: Annotated[str | None, typer.Option(help="API base URL.")] = None,
    timeout: Annotated[float | None, typer.Option(help="Seconds to wait.")] = None,
    no_color: Annotated[bool, typer.Option("--no-color", help="No colour.")] = False,
    allow_insecure: Annotated[bool, _allow_insecure()] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Log requests.")] = False,
) -> None:
    """Show the account's balance and spend (AI/ML API), beside what history recorded.

    A window is at most 92 days. Other servers (LiteLLM, llama.cpp, vLLM) have no
    such endpoints: exit 1.

    \b
    Examples:
      aimlchat usage
      aimlchat usage --period 30d --by model
      aimlchat usage --since 2026-07-01 --until 2026-07-31 --by day
      aimlchat usage --json | jq .api.spend
    """
    from aimlchat.commands.runtime import App
    from aimlchat.commands.usage import show_usage
    from aimlchat.settings.resolve import Flags

    opts = Flags(
        base_url=base_url,
        timeout=timeout,
        debug=debug,
        no_color=no_color,
        allow_insecure=allow_insecure,
    )
    show_usage(App(opts, _env(ctx)), period=period, since=since, until=until, by=by, as_json=json_)


@cli.command()
def tools(
    ctx: typer.Context,
    names: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[NAME]...", help="Only these tools or MCP servers (as -T names them)."
        ),
    ] = None,
    no_start: Annotated[
        bool,
        typer.Option("--no-start", help="Start no MCP server: list them, not their tools."),
    ] = False,
    json_: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    no_color: Annotated[bool, typer.Option("--no-color", help="No colour.")] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Log each MCP message and show tracebacks.")
    ] = False,
) -> None:
    """List every tool -T can offer: built-in, [tools.NAME] command and MCP server tool.

    Each configured MCP server is started to list its tools, then stopped; one
    that fails is shown with its error and the exit status is 1 (3 for a refused
    key or an unset ${VAR}).

    \b
    Examples:
      aimlchat tools
      aimlchat tools aiml            one MCP server and its tools
      aimlchat tools --no-start
      aimlchat tools --json | jq -r '.tools[].name'
    """
    from aimlchat.commands.runtime import App
    from aimlchat.commands.tools_list import show_tools
    from aimlchat.settings.resolve import Flags

    app = App(Flags(no_color=no_color, debug=debug), _env(ctx))
    show_tools(app, names=names or [], start=not no_start, as_json=json_)


def command_names() -> list[str]:
    """Every subcommand and group name: what `aimlchat WORD` must not take as a prompt."""
    commands = [
        c.name or (c.callback.__name__ if c.callback else "") for c in cli.registered_commands
    ]
    return [*commands, *(g.name or "" for g in cli.registered_groups)]


def subcommand_names(group: str) -> list[str]:
    """The subcommands of group `group` (empty for a plain command)."""
    for info in cli.registered_groups:
        if info.name == group and info.typer_instance is not None:
            return [c.name or "" for c in info.typer_instance.registered_commands]
    return []
