"""The command line: parse, wire, and the one error boundary. The only typer importer.

Heavy modules (requests, rich, prompt_toolkit) are imported inside the commands that
need them, so `--help` and `--version` stay as fast as typer itself.
"""

from __future__ import annotations

import functools
import inspect
import os
import signal
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

if TYPE_CHECKING:
    from aimlchat.terminal import Environment

from aimlchat import __version__
from aimlchat.errors import AimlchatError, ExitCode, Interrupted, Terminated, UsageError, redact

EXIT_CODES = """\b
Exit codes:
  0 ok · 1 API error · 2 usage · 3 auth/config · 4 network
  5 rate-limited · 130 interrupted (Ctrl-C) · 141 stdout closed · 143 terminated"""

EXAMPLES = """\b
Examples:
  aimlchat ask "Hello"
  git diff | aimlchat ask "write a commit message" > msg.txt
  aimlchat chat --continue
  aimlchat models llama --pricing"""

cli = typer.Typer(
    name="aimlchat",
    help=f"A terminal client for the AI/ML API.\n\n{EXAMPLES}\n\n{EXIT_CODES}",
    rich_markup_mode=None,  # rich help imports rich.markdown: 2.5x slower --help
    pretty_exceptions_enable=False,
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
history_cli = typer.Typer(
    help="Browse saved conversations.", no_args_is_help=True, rich_markup_mode=None
)
key_cli = typer.Typer(
    help="Manage the stored API key.", no_args_is_help=True, rich_markup_mode=None
)
config_cli = typer.Typer(
    help="Show or edit config.toml.", no_args_is_help=True, rich_markup_mode=None
)
cli.add_typer(history_cli, name="history")
cli.add_typer(key_cli, name="key")
cli.add_typer(config_cli, name="config")

F = TypeVar("F", bound=Callable[..., Any])


# -- the error boundary ---------------------------------------------------------------


def _quiet_stdout() -> None:
    # The reader went away: point stdout at /dev/null so the final flush cannot raise.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def boundary(func: F) -> F:
    """Typed errors → one line on stderr and their exit code; tracebacks only with --debug."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from aimlchat.terminal import Environment, Notifier

        debug = bool(kwargs.get("debug")) or os.environ.get("AIMLCHAT_DEBUG") == "1"
        notifier = Notifier(Environment.from_process())
        previous = signal.getsignal(signal.SIGTERM)

        def on_term(signum: int, frame: Any) -> None:
            raise Terminated()

        signal.signal(signal.SIGTERM, on_term)
        try:
            return func(*args, **kwargs)
        except typer.Exit:
            raise
        except BrokenPipeError:
            _quiet_stdout()
            raise typer.Exit(141) from None
        except Terminated:
            notifier.info("terminated; the partial reply was saved")
            raise typer.Exit(143) from None
        except (KeyboardInterrupt, Interrupted):
            notifier.info("interrupted; the partial reply was saved")
            raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
        except AimlchatError as exc:
            if debug:
                notifier.raw(traceback.format_exc())
            notifier.error(exc.message, exc.hint)
            raise typer.Exit(int(exc.exit_code)) from None
        except Exception as exc:  # the last line of defence: no traceback without --debug
            if debug:
                notifier.raw(traceback.format_exc())
            notifier.error(
                f"unexpected {type(exc).__name__}: {redact(str(exc))[:300]}",
                None if debug else "run with --debug for details",
            )
            raise typer.Exit(int(ExitCode.API)) from None
        finally:
            signal.signal(signal.SIGTERM, previous)

    return wrapper  # type: ignore[return-value]


# -- options shared by ask and chat ---------------------------------------------------

SAMPLING = (
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "seed",
    "frequency_penalty",
    "presence_penalty",
    "top_k",
    "min_p",
    "repetition_penalty",
    "n",
    "top_logprobs",
)

_REQUEST_OPTIONS: list[tuple[str, Any, Any]] = [
    (
        "model",
        str | None,
        typer.Option(
            "--model",
            "-m",
            help="Model id or alias [env AIMLCHAT_MODEL; default meta-llama/llama-4-scout].",
            show_default=False,
        ),
    ),
    ("system", str | None, typer.Option("--system", "-s", help="System prompt.")),
    ("role", str | None, typer.Option("--role", "-r", help="Named system prompt from config.")),
    ("temperature", float | None, typer.Option(help="Sampling temperature, 0–2.")),
    ("top_p", float | None, typer.Option(help="Nucleus sampling, 0.01–1.")),
    ("max_tokens", int | None, typer.Option(help="Reply length limit, ≥ 1.")),
    ("max_completion_tokens", int | None, typer.Option(help="Completion limit, ≥ 1.")),
    (
        "stop",
        list[str] | None,
        typer.Option(metavar="TEXT", help="Stop sequence (repeat, up to 4)."),
    ),
    ("seed", int | None, typer.Option(help="Seed for repeatable sampling, ≥ 1.")),
    ("frequency_penalty", float | None, typer.Option(help="−2 to 2.")),
    ("presence_penalty", float | None, typer.Option(help="−2 to 2.")),
    ("top_k", float | None, typer.Option(help="Top-k sampling.")),
    ("min_p", float | None, typer.Option(help="0.001–0.999.")),
    ("repetition_penalty", float | None, typer.Option(help="Repetition penalty.")),
    ("n", int | None, typer.Option("-n", "--n", help="Number of replies, ≥ 1.")),
    ("logprobs", bool, typer.Option(help="Ask for log probabilities.")),
    ("top_logprobs", int | None, typer.Option(help="0–20.")),
    (
        "option",
        list[str] | None,
        typer.Option(
            "--option",
            "-o",
            metavar="KEY=VALUE",
            help="Any other body field; VALUE is JSON if it parses, else a string.",
        ),
    ),
    ("no_stream", bool, typer.Option(help="Wait for the whole reply.")),
    ("format", str | None, typer.Option(help="json: ask for a JSON object reply.")),
    ("schema", Path | None, typer.Option(help="JSON Schema file the reply must follow.")),
    (
        "attach",
        list[str] | None,
        typer.Option(
            "--attach",
            "-a",
            metavar="PATH|URL|-",
            help="Attach an image (jpg, png, gif, webp); repeatable.",
        ),
    ),
    ("image_detail", str | None, typer.Option(help="low, high or auto.")),
    ("continue_", bool, typer.Option("--continue", "-c", help="Continue the latest conversation.")),
    ("session", str | None, typer.Option(help="Name (or resume) a conversation.")),
    ("no_history", bool, typer.Option(help="Do not save this conversation.")),
    ("usage", bool, typer.Option(help="Print tokens and cost on stderr.")),
    ("raw", bool, typer.Option(help="Plain text on a terminal, no Markdown.")),
    ("code_theme", str | None, typer.Option(help="Pygments theme for code blocks.")),
    ("no_color", bool, typer.Option(help="No colour (also NO_COLOR=1).")),
    ("base_url", str | None, typer.Option(help="API base URL [env AIMLCHAT_BASE_URL].")),
    ("timeout", float | None, typer.Option(help="Seconds to wait for the server [60].")),
    ("retries", int | None, typer.Option(help="Retries on 429/5xx/network errors [2].")),
    ("allow_insecure", bool, typer.Option(help="Allow the key over plain http.")),
    ("debug", bool, typer.Option(help="Log requests and show tracebacks (never the key).")),
]


def request_options(func: F) -> F:
    """Give `func` every shared option without writing the 35 parameters out twice.

    typer reads a command's parameters from `inspect.signature` and type hints, so
    extending `__signature__` and `__annotations__` is enough.
    """
    sig = inspect.signature(func, eval_str=True)
    for name, _kind, option in _REQUEST_OPTIONS:
        if not option.param_decls:
            # An explicit name makes a bool a plain flag (--raw), not --raw/--no-raw.
            option.param_decls = ("--" + name.replace("_", "-"),)
    extra = [
        inspect.Parameter(
            name,
            inspect.Parameter.KEYWORD_ONLY,
            default=False if kind is bool else None,
            annotation=Annotated[kind, option],
        )
        for name, kind, option in _REQUEST_OPTIONS
    ]
    own = [p for p in sig.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    func.__signature__ = sig.replace(parameters=[*own, *extra])  # type: ignore[attr-defined]
    func.__annotations__ = {**func.__annotations__, **{p.name: p.annotation for p in extra}}
    return func


def _options(kw: dict[str, Any]) -> Any:
    from aimlchat.app import RequestOptions

    return RequestOptions(
        model=kw["model"],
        system=kw["system"],
        role=kw["role"],
        sampling={
            **{name: kw[name] for name in SAMPLING},
            "logprobs": True if kw["logprobs"] else None,
        },
        stop=list(kw["stop"] or []),
        extra=list(kw["option"] or []),
        no_stream=kw["no_stream"],
        base_url=kw["base_url"],
        timeout=kw["timeout"],
        retries=kw["retries"],
        raw=kw["raw"],
        debug=kw["debug"],
        no_color=kw["no_color"],
        allow_insecure=kw["allow_insecure"],
        format=kw["format"],
        schema=kw["schema"],
        code_theme=kw["code_theme"],
        continue_=kw["continue_"],
        session=kw["session"],
        no_history=kw["no_history"],
        attach=list(kw["attach"] or []),
        image_detail=kw["image_detail"],
        usage=kw["usage"],
    )


def _app(kw: dict[str, Any], env: Environment | None = None) -> Any:
    from aimlchat.app import App

    return App(_options(kw), env or _env())


def _env() -> Environment:
    from aimlchat.terminal import Environment

    return Environment.from_process()


def _notifier(env: Environment) -> Any:
    from aimlchat.terminal import Notifier

    return Notifier(env)


# -- commands -------------------------------------------------------------------------


def _version(value: bool) -> None:
    if value:
        typer.echo(f"aimlchat {__version__}")
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
@boundary
@request_options
def ask(
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
    **kw: Any,
) -> None:
    """Ask once and print the reply.

    \b
    Examples:
      aimlchat ask "Hello"
      git diff | aimlchat ask "write a commit message" > msg.txt
      aimlchat ask "what is in this picture" -a photo.png
      aimlchat ask "summarise {stdin} in one line" < notes.txt
    """
    from aimlchat.oneshot import AskOutput, run_ask

    run_ask(
        _app(kw), AskOutput(prompt=list(prompt or []), no_stdin=no_stdin, json=json_, ndjson=ndjson)
    )


@cli.command(epilog=EXIT_CODES)
@boundary
@request_options
def chat(**kw: Any) -> None:
    """Chat in an interactive REPL; /help lists the slash commands.

    \b
    Examples:
      aimlchat chat
      aimlchat chat --continue
      aimlchat chat --session work -m meta-llama/llama-4-scout
    """
    env = _env()
    if not env.stdin_tty or not env.stdout_tty:
        raise UsageError("chat needs a terminal", hint='for pipes use: aimlchat ask "…"')
    from aimlchat.repl import run_chat

    run_chat(_app(kw, env))


@cli.command()
@boundary
def models(
    search: Annotated[str | None, typer.Argument(help="Filter by id, alias or name.")] = None,
    pricing: Annotated[bool, typer.Option("--pricing", help="Price per 1M tokens.")] = False,
    vision: Annotated[bool, typer.Option("--vision", help="Only image-input models.")] = False,
    all_: Annotated[bool, typer.Option("--all", help="Every type, not only chat.")] = False,
    json_: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    base_url: Annotated[str | None, typer.Option(help="API base URL.")] = None,
    timeout: Annotated[float | None, typer.Option(help="Seconds to wait.")] = None,
    no_color: Annotated[bool, typer.Option("--no-color", help="No colour.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Log requests.")] = False,
) -> None:
    """List the live model catalogue (cached; revalidated with its ETag).

    \b
    Examples:
      aimlchat models llama --pricing
      aimlchat models --vision
      aimlchat models --json | jq -r '.[].id'
    """
    from aimlchat.app import App, RequestOptions
    from aimlchat.listing import show_models

    opts = RequestOptions(base_url=base_url, timeout=timeout, debug=debug, no_color=no_color)
    show_models(
        App(opts, _env()),
        search=search,
        pricing=pricing,
        vision=vision,
        all_types=all_,
        as_json=json_,
    )


# -- history --------------------------------------------------------------------------


def _history() -> Any:
    from aimlchat.app import App, RequestOptions
    from aimlchat.history_view import HistoryView

    return HistoryView(App(RequestOptions(), _env()))


@history_cli.command("list")
@boundary
def history_list(
    limit: Annotated[int, typer.Option("--limit", "-l", help="How many.")] = 20,
) -> None:
    """List recent conversations.  Example: aimlchat history list -l 5"""
    _history().list(limit=limit)


@history_cli.command("show")
@boundary
def history_show(
    ref: Annotated[str | None, typer.Argument(help="Id or name; latest if omitted.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Include undone and replaced.")] = False,
) -> None:
    """Show one conversation.  Example: aimlchat history show 3"""
    _history().show(ref, all_statuses=all_)


@history_cli.command("search")
@boundary
def history_search(text: Annotated[str, typer.Argument(help="Text to look for.")]) -> None:
    """Find conversations containing TEXT.  Example: aimlchat history search docker"""
    _history().list(limit=50, search=text)


@history_cli.command("export")
@boundary
def history_export(
    ref: Annotated[str, typer.Argument(help="Id or name.")],
    format_: Annotated[str, typer.Option("--format", "-f", help="md or json.")] = "md",
) -> None:
    """Print a conversation as Markdown or JSON.  Example: aimlchat history export 3 -f json"""
    _history().export(ref, format_)


@history_cli.command("rm")
@boundary
def history_rm(ref: Annotated[str, typer.Argument(help="Id or name.")]) -> None:
    """Delete a conversation.  Example: aimlchat history rm 3"""
    _history().remove(ref)


# -- key ------------------------------------------------------------------------------


def _paths() -> Any:
    from aimlchat.config import Paths

    return Paths.from_env(os.environ)


@key_cli.command("set")
@boundary
def key_set() -> None:
    """Store the API key (hidden prompt, or from stdin).  Example: aimlchat key set"""
    from aimlchat.keys import save_key

    env = _env()
    if env.stdin_tty:
        import getpass

        key = getpass.getpass("AI/ML API key (input hidden): ")
    else:
        key = env.stdin.readline()
    path = _paths().key_file
    save_key(path, key)
    _notifier(env).info(f"key saved to {path} (mode 0600)")


@key_cli.command("path")
@boundary
def key_path() -> None:
    """Print where the key file lives.  Example: aimlchat key path"""
    typer.echo(str(_paths().key_file))


@key_cli.command("remove")
@boundary
def key_remove() -> None:
    """Delete the stored key.  Example: aimlchat key remove"""
    from aimlchat.keys import remove_key

    path = _paths().key_file
    notifier = _notifier(_env())
    notifier.info(f"removed {path}" if remove_key(path) else f"no key file at {path}")


# -- config ---------------------------------------------------------------------------


@config_cli.command("path")
@boundary
def config_path() -> None:
    """Print where config.toml lives.  Example: aimlchat config path"""
    typer.echo(str(_paths().config_file))


@config_cli.command("show")
@boundary
def config_show() -> None:
    """Print the config with secrets masked.  Example: aimlchat config show"""
    from aimlchat.config_view import show_config

    show_config(_paths(), _env())


@config_cli.command("edit")
@boundary
def config_edit() -> None:
    """Open config.toml in $EDITOR, then check it.  Example: aimlchat config edit"""
    from aimlchat.config_view import edit_config

    edit_config(_paths(), _env())


def main() -> None:
    cli(prog_name="aimlchat")
