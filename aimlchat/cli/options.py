"""The options `ask` and `chat` share, added to each command's signature once."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

F = TypeVar("F", bound=Callable[..., Any])


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


def request_options_from(kw: dict[str, Any]) -> Any:
    from aimlchat.commands.runtime import RequestOptions

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
