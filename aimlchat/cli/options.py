"""The options `ask`, `chat`, `cmd` and `batch` share, added to each command's signature once.

The parameters (model, sampling, format, theme, base URL, …) are generated from
`aimlchat.settings.params.TABLE`: flags, types, help and completion of choices. The
options that only steer the CLI itself (history, attachments, output) are listed here.
"""

from __future__ import annotations

import copy
import functools
import inspect
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from aimlchat.cli.complete import complete_model, complete_role
from aimlchat.settings import params
from aimlchat.settings.params import Param

if TYPE_CHECKING:
    from aimlchat.settings.resolve import Flags

F = TypeVar("F", bound=Callable[..., Any])

_TYPES: dict[str, Any] = {
    "float": float | None,
    "int": int | None,
    "bool": bool,
    "str": str | None,
    "enum": str | None,
    "str_list": list[str] | None,
}

# Options of the CLI itself, not request parameters: (name, type, option).
_CLI_OPTIONS: dict[str, tuple[Any, Any]] = {
    "system": (str | None, typer.Option("--system", "-s", help="System prompt.")),
    "role": (
        str | None,
        typer.Option(
            "--role",
            "-r",
            help="A role (config.toml or built-in); see: aimlchat roles list.",
            autocompletion=complete_role,
        ),
    ),
    "var": (
        list[str] | None,
        typer.Option(
            "--var",
            "-v",
            metavar="NAME=VALUE",
            help="Fill {{NAME}} in the role and the prompt; repeatable.",
        ),
    ),
    "option": (
        list[str] | None,
        typer.Option(
            "--option",
            "-o",
            metavar="KEY=VALUE",
            help="Any other body field; VALUE is JSON if it parses, else a string.",
        ),
    ),
    "no_stream": (bool, typer.Option(help="Wait for the whole reply.")),
    "schema": (Path | None, typer.Option(help="JSON Schema file the reply must follow.")),
    "attach": (
        list[str] | None,
        typer.Option(
            "--attach",
            "-a",
            metavar="PATH|URL|-",
            help="Attach an image (jpg, png, gif, webp); repeatable.",
        ),
    ),
    "file": (
        list[str] | None,
        typer.Option(
            "--file",
            "-f",
            metavar="PATH|DIR|GLOB|URL|-",
            help="Add files as context (a folder honours .gitignore; images go as -a); repeatable.",
        ),
    ),
    "tool": (
        list[str] | None,
        typer.Option(
            "--tool",
            "-T",
            metavar="NAME|all",
            help="Offer a tool to the model ([tools.NAME] in config, read_file, list_dir); "
            "repeatable.",
        ),
    ),
    "yes": (bool, typer.Option(help="Run the model's tool calls without asking.")),
    "continue_": (bool, typer.Option("--continue", "-c", help="Continue the latest conversation.")),
    "session": (str | None, typer.Option(help="Name (or resume) a conversation.")),
    "no_history": (bool, typer.Option(help="Do not save this conversation.")),
    "usage": (bool, typer.Option(help="Print tokens and cost on stderr.")),
    "raw": (bool, typer.Option(help="Plain text on a terminal, no Markdown.")),
    "show_reasoning": (
        bool,
        typer.Option(help="Keep a reasoning model's thinking on screen (dimmed), not one line."),
    ),
    "no_color": (bool, typer.Option(help="No colour (also NO_COLOR=1).")),
    "allow_insecure": (bool, typer.Option(help="Allow the key over plain http.")),
    "debug": (bool, typer.Option(help="Log requests and show tracebacks (never the key).")),
}

# The order of --help: what people reach for first, then the plumbing.
_ORDER = (
    "model",
    "system",
    "role",
    "var",
    *(p.name for p in params.BODY),
    "option",
    "no_stream",
    "format",
    "schema",
    "file",
    "attach",
    "image_detail",
    "web_search",
    "tool",
    "yes",
    "max_steps",
    "max_cost",
    "max_cost_per_day",
    "context_length",
    "continue_",
    "session",
    "no_history",
    "usage",
    "raw",
    "show_reasoning",
    "code_theme",
    "no_color",
    "base_url",
    "api",
    "connect_timeout",
    "timeout",
    "idle_timeout",
    "retries",
    "allow_insecure",
    "debug",
)


def _completer(param: Param) -> Callable[[str], list[str]]:
    def complete(incomplete: str) -> list[str]:
        return [c for c in param.all_choices() if c.startswith(incomplete)]

    return complete


def _param_option(param: Param) -> tuple[Any, Any]:
    """A Typer option for one row of the table."""
    # An amount is taken as text, so `$0.05` is read (params.money), not refused by Click.
    kind = str | None if param.money else _TYPES[param.kind]
    extra: dict[str, Any] = {}
    if param.kind == "enum":
        extra["autocompletion"] = _completer(param)
        extra["metavar"] = "|".join(param.choices) if param.choices else "NAME"
    if param.kind == "str_list":
        extra["metavar"] = "TEXT"
    if param.metavar:
        extra["metavar"] = param.metavar
    if param.name == "model":  # ids from the cached catalogue, read from disk
        extra["autocompletion"] = complete_model
    option = typer.Option(*param.option_flags, help=param.help_text(), show_default=False, **extra)
    return kind, option


def shared_options(
    flags: Mapping[str, tuple[str, ...]] | None = None,
) -> list[tuple[str, Any, Any]]:
    """(name, type, typer option) for every option `ask` and `chat` share, in help order;
    `flags` gives some of them other flags (same name, type and help)."""
    rows = []
    for name in _ORDER:
        if name in params.BY_NAME:
            kind, option = _param_option(params.BY_NAME[name])
        else:
            kind, option = _CLI_OPTIONS[name]
            if not option.param_decls:
                # An explicit name makes a bool a plain flag (--raw), not --raw/--no-raw.
                option.param_decls = ("--" + name.replace("_", "-"),)
        if flags and name in flags:
            option = copy.copy(option)  # the row is shared with the other commands
            # In `Annotated`, typer reads a first flag given positionally from `default`.
            option.default, option.param_decls = ..., flags[name]
        rows.append((name, kind, option))
    return rows


def request_options_without(
    *names: str, flags: Mapping[str, tuple[str, ...]] | None = None
) -> Callable[[F], F]:
    """`request_options` minus `names` (what one command must not offer: `cmd` has no
    --yes), `flags` renaming some (`batch`'s -o is OUT, so its --option is -O);
    `request_options_from` then takes the missing ones as not given."""
    return functools.partial(request_options, without=names, flags=flags)


_PENDING = "__aimlchat_options__"


def request_options(
    func: F,
    *,
    without: tuple[str, ...] = (),
    flags: Mapping[str, tuple[str, ...]] | None = None,
) -> F:
    """Give `func` every shared option without writing the parameters out twice.

    Only marked here: `with_options` extends the signature when the command is built,
    and a run builds only the command it names (see aimlchat.cli.build), so `--help`
    does not pay for ~50 options of three commands it merely lists.
    """
    setattr(func, _PENDING, (without, flags))
    return func


def with_options(func: F) -> F:
    """Apply a pending `request_options` (once).

    typer reads a command's parameters from `inspect.signature` and type hints, so
    extending `__signature__` and `__annotations__` is enough.
    """
    pending = func.__dict__.pop(_PENDING, None)
    if pending is None:
        return func
    without, flags = pending
    sig = inspect.signature(func, eval_str=True)
    extra = [
        inspect.Parameter(
            name,
            inspect.Parameter.KEYWORD_ONLY,
            default=False if kind is bool else None,
            annotation=Annotated[kind, option],
        )
        for name, kind, option in shared_options(flags)
        if name not in without
    ]
    own = [p for p in sig.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    func.__signature__ = sig.replace(parameters=[*own, *extra])  # type: ignore[attr-defined]
    func.__annotations__ = {**func.__annotations__, **{p.name: p.annotation for p in extra}}
    return func


def request_options_from(kw: dict[str, Any]) -> Flags:
    """The parsed options as `Flags` for the resolver: table rows by name, the rest as given."""
    from aimlchat.settings.resolve import Flags

    not_given = {name: False if kind is bool else None for name, kind, _ in shared_options()}
    kw = {**not_given, **kw}
    body = {p.name: kw[p.name] for p in params.BODY}
    settings = {p.name: kw[p.name] for p in params.TABLE if not p.body}
    return Flags(
        **settings,
        params={k: v for k, v in body.items() if v is not None and v is not False and v != []},
        system=kw["system"],
        role=kw["role"],
        extra=list(kw["option"] or []),
        no_stream=kw["no_stream"],
        schema=kw["schema"],
        attach=list(kw["attach"] or []),
        files=list(kw["file"] or []),
        vars=list(kw["var"] or []),
        tools=list(kw["tool"] or []),
        yes=kw["yes"],
        continue_=kw["continue_"],
        session=kw["session"],
        no_history=kw["no_history"],
        usage=kw["usage"],
        raw=kw["raw"],
        show_reasoning=kw["show_reasoning"],
        no_color=kw["no_color"],
        allow_insecure=kw["allow_insecure"],
        debug=kw["debug"],
    )
