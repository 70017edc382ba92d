"""`aimlchat batch`: its options, parsed and handed to `aimlchat.commands.batch`.

Registered in `aimlchat.cli.app` by one line. The request options are those of `ask`
(`aimlchat.cli.options`), minus what means nothing for many items at once, and with
`-o` naming OUT, as in most batch tools, so the extra body fields are `-O KEY=VALUE`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from aimlchat.cli.options import request_options_from, request_options_without
from aimlchat.cli.wiring import env_of

# What `batch` does not offer: one reply per item (no -n), always whole (no --no-stream),
# no conversations, -a images, templates or tools (each IN record is the whole request;
# -f files are shared by every item, a record adds its own "files"), and nothing for a
# reply on a terminal (OUT is JSONL, with usage and cost per item).
# History is `--history`, off by default, instead of `--no-history`.
BATCH_WITHOUT = (
    *("n", "var", "no_stream", "attach", "image_detail"),
    *("tool", "yes", "max_steps", "context_length", "continue_", "session", "no_history"),
    *("usage", "raw", "show_reasoning", "code_theme"),
    "max_cost",  # batch's own --max-cost (below): the batch's total, not one conversation's
)


@request_options_without(*BATCH_WITHOUT, flags={"option": ("--option", "-O")})
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
        str | None,  # an amount as people type it ($0.05): settings.params.money reads it
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
      {"id": "q2", "prompt": "Review this", "files": ["src/app.py"]}
    -f files go before every item's prompt, then the record's own "files".
    OUT lines: {"id", "text", "finish_reason", "usage", "cost", "cost_source",
      "inference_id", "client_request_id", "model", "error"}

    \b
    Examples:
      aimlchat batch prompts.jsonl -o out.jsonl -j 16
      aimlchat batch prompts.jsonl -o out.jsonl          # again: resumes
      cut -f2 data.tsv | aimlchat batch - -m gpt-4o > out.jsonl
      aimlchat batch big.jsonl -o part2.jsonl --shard 2/3   # host 2 of 3
      aimlchat batch qs.jsonl -o out.jsonl -f spec.md        # spec.md with every prompt
    """
    from aimlchat.commands.batch import BatchOptions, run_batch
    from aimlchat.commands.runtime import App
    from aimlchat.settings.params import money

    env = env_of(ctx)
    run_batch(
        App(request_options_from({**kw, "no_stream": True, "no_history": not history}), env),
        BatchOptions(
            input=input_,
            output=output,
            concurrency=concurrency,
            ordered=ordered,
            retry_errors=retry_errors,
            max_cost=None if max_cost is None else money(max_cost, "--max-cost"),
            shard=shard,
            history=history,
        ),
    )
