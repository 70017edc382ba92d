"""`aimlchat batch`: its options, parsed and handed to `aimlchat.commands.batch`.

Registered in `aimlchat.cli.app` by one line. The request options are rows of the shared
table (`aimlchat.cli.options.shared_options`), minus what means nothing for many items at
once: -n, attachments, streaming, conversations, and `-o KEY=VALUE` — here `-o` names OUT,
as in most batch tools, so the extra body fields are `-O KEY=VALUE`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from aimlchat.cli.options import shared_options
from aimlchat.cli.wiring import env_of
from aimlchat.settings import params

if TYPE_CHECKING:
    from aimlchat.settings.resolve import Flags

F = TypeVar("F", bound=Callable[..., Any])

BODY = tuple(p.name for p in params.BODY if p.name != "n")
SHARED = ("model", "system", "role", *BODY)
SHARED_TAIL = (
    *("format", "schema", "base_url", "timeout", "retries"),
    *("no_color", "allow_insecure", "debug"),
)
OPTION = typer.Option(
    "--option",
    "-O",
    metavar="KEY=VALUE",
    help="Any other body field; VALUE is JSON if it parses, else a string.",
)


def batch_options(func: F) -> F:
    """Add the shared request options `batch` takes (see `cli.options.request_options`)."""
    rows = {name: (kind, option) for name, kind, option in shared_options()}
    rows["option"] = (list[str] | None, OPTION)
    extra = [
        inspect.Parameter(
            name,
            inspect.Parameter.KEYWORD_ONLY,
            default=False if rows[name][0] is bool else None,
            annotation=Annotated[rows[name][0], rows[name][1]],
        )
        for name in (*SHARED, "option", *SHARED_TAIL)
    ]
    sig = inspect.signature(func, eval_str=True)
    own = [p for p in sig.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    func.__signature__ = sig.replace(parameters=[*own, *extra])  # type: ignore[attr-defined]
    func.__annotations__ = {**func.__annotations__, **{p.name: p.annotation for p in extra}}
    return func


def flags_from(kw: dict[str, Any], *, history: bool) -> Flags:
    from aimlchat.settings.resolve import Flags

    return Flags(
        model=kw["model"],
        system=kw["system"],
        role=kw["role"],
        params={k: kw[k] for k in BODY if kw[k] is not None and kw[k] is not False},
        extra=list(kw["option"] or []),
        no_stream=True,
        base_url=kw["base_url"],
        timeout=kw["timeout"],
        retries=kw["retries"],
        format=kw["format"],
        schema=kw["schema"],
        no_color=kw["no_color"],
        allow_insecure=kw["allow_insecure"],
        debug=kw["debug"],
        no_history=not history,
    )


@batch_options
def batch(
    ctx: typer.Context,
    input_: Annotated[
        str,
        typer.Argument(
            metavar="IN",
            help="Prompts, one per line: JSONL records or plain text; - for stdin.",
            show_default=False,
        ),
    ],
    *,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            metavar="OUT",
            help="JSONL results; an existing OUT is resumed [default: stdout].",
            show_default=False,
        ),
    ] = None,
    concurrency: Annotated[
        int,
        typer.Option("--concurrency", "-j", min=1, max=256, help="Requests in flight at most."),
    ] = 4,
    ordered: Annotated[bool, typer.Option("--ordered", help="Write in input order.")] = False,
    retry_errors: Annotated[
        bool, typer.Option("--retry-errors", help="Ask again the items OUT holds as errors.")
    ] = False,
    max_cost: Annotated[
        float | None,
        typer.Option(
            "--max-cost", metavar="USD", help="Stop taking items once this much is spent."
        ),
    ] = None,
    shard: Annotated[
        str | None,
        typer.Option("--shard", metavar="K/N", help="Only the items whose id hashes to K of N."),
    ] = None,
    history: Annotated[
        bool, typer.Option("--history", help="Save each item to the chat history.")
    ] = False,
    **kw: Any,
) -> None:
    """Run many prompts through the API: bounded concurrency, shared rate-limit
    backoff, an error record per failed item, and an OUT that a rerun resumes.

    \b
    IN lines are JSON records or plain prompts:
      {"id": "q1", "prompt": "…", "system": "…", "model": "…", "params": {"temperature": 0}}
    OUT lines: {"id", "text", "finish_reason", "usage", "cost", "model", "error"}

    \b
    Examples:
      aimlchat batch prompts.jsonl -o out.jsonl -j 16
      aimlchat batch prompts.jsonl -o out.jsonl          # again: resumes
      cut -f2 data.tsv | aimlchat batch - -m gpt-4o > out.jsonl
      aimlchat batch big.jsonl -o part2.jsonl --shard 2/3   # host 2 of 3
    """
    from aimlchat.commands.batch import BatchOptions, run_batch
    from aimlchat.commands.runtime import App

    env = env_of(ctx)
    run_batch(
        App(flags_from(kw, history=history), env),
        BatchOptions(
            input=input_,
            output=output,
            concurrency=concurrency,
            ordered=ordered,
            retry_errors=retry_errors,
            max_cost=max_cost,
            shard=shard,
            history=history,
        ),
    )
