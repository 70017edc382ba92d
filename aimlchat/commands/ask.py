"""`aimlchat ask`: read stdin and the prompt, send one turn, print the reply, exit.

While the first token is awaited, a spinner on stderr when stderr is a terminal, even if
stdout is a pipe (`aimlchat "…" > out.md`): it is erased before the reply's first
character, and a pipe on stderr never sees it. `-x` prints a code block of the reply and
nothing else: the spinner then runs until the reply is whole.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aimlchat import money
from aimlchat.api.events import (
    ChatEvent,
    CitationDelta,
    Finish,
    ReasoningDelta,
    TextDelta,
    Usage,
)
from aimlchat.chat.session import ReplyFiltered, Totals, TurnResult
from aimlchat.commands.message import build_message, warn_text_only
from aimlchat.commands.runtime import App
from aimlchat.commands.tooling import tty_ask
from aimlchat.errors import (
    AimlchatError,
    ApiError,
    StdoutUnwritable,
    Terminated,
    UsageError,
    redact,
)
from aimlchat.messages import Cost
from aimlchat.record import record, replace
from aimlchat.terminal.output import per_reply
from aimlchat.terminal.spinner import Spinner, SpinnerSink, spinner_wanted


@record()
class AskOutput:
    prompt: list[str]
    no_stdin: bool = False
    json: bool = False
    ndjson: bool = False
    extract: str | None = None  # -x "first" / --extract-last "last": a code block only


class NullSink:
    def feed(self, text: str) -> None:
        pass

    def finish(self, *, status: str | None = None) -> None:
        pass


def _ndjson_writer(app: App) -> Callable[[ChatEvent], None]:
    def write(event: ChatEvent) -> None:
        obj: dict[str, Any]
        if isinstance(event, TextDelta):
            obj = {"type": "delta", "index": event.index, "text": event.text}
        elif isinstance(event, ReasoningDelta):
            obj = {"type": "reasoning", "index": event.index, "text": event.text}
        elif isinstance(event, Finish):
            obj = {"type": "finish", "index": event.index, "finish_reason": event.reason}
        elif isinstance(event, CitationDelta):
            obj = {
                "type": "citation",
                "index": event.index,
                "url": event.url,
                "title": event.title,
                "start": event.start,
                "end": event.end,
            }
        else:
            return
        app.out.data(json.dumps(obj, ensure_ascii=False) + "\n")

    return write


def usage_event(result: TurnResult) -> dict[str, Any] | None:
    """--ndjson's `usage` event of one reply, once it is whole (the charge may come
    after the token counts): tokens, cost and where the cost came from, the ids."""
    usage, cost = result.usage, result.cost
    if usage is None and cost is None:
        return None
    return {
        "type": "usage",
        "prompt_tokens": usage.prompt_tokens if usage else None,
        "completion_tokens": usage.completion_tokens if usage else None,
        "total_tokens": usage.total_tokens if usage else None,
        "cost": cost.usd if cost else None,
        "cost_source": cost.source if cost else None,
        "inference_id": result.inference_id,
        "client_request_id": result.client_request_id,
    }


def _ndjson_usage(app: App) -> Callable[[TurnResult], None]:
    def write(result: TurnResult) -> None:
        obj = usage_event(result)
        if obj is not None:
            app.out.data(json.dumps(obj, ensure_ascii=False) + "\n")

    return write


def _ndjson_line(app: App) -> Callable[[dict[str, Any]], None]:
    def write(obj: dict[str, Any]) -> None:
        app.out.data(json.dumps(obj, ensure_ascii=False) + "\n")

    return write


def _ndjson_error(app: App, exc: AimlchatError) -> None:
    obj = {"type": "error", "message": redact(exc.message), "exit_code": int(exc.exit_code)}
    app.out.data(json.dumps(obj, ensure_ascii=False) + "\n")


def run_ask(app: App, out: AskOutput) -> TurnResult:
    if out.json and out.ndjson:
        raise UsageError("use --json or --ndjson, not both")
    if out.extract and (out.json or out.ndjson):
        raise UsageError(f"use -x or --{'json' if out.json else 'ndjson'}, not both")
    choices = int(app.settings.params.get("n") or 1)
    if out.extract and choices > 1:
        raise UsageError(
            f"-x prints one code block, and -n {choices} asks for {choices} replies",
            hint="use -n 1, or --json to get every reply",
        )
    # --format json (or --schema) with -n: each reply one JSON document a line, not Markdown
    json_lines = choices > 1 and app.output_format is not None and not out.json
    message = build_message(app, out.prompt, no_stdin=out.no_stdin)
    report = _ndjson_line(app) if out.ndjson else None  # tool_call and tool_result events
    chat = app.open_chat(
        stream=not (app.opts.no_stream or out.json),
        ask=tty_ask(app.env, needed=bool(app.settings.tools)),
        report=report,
    )
    warn_text_only(app, chat.settings.model, message)
    spinner = app.spinner = Spinner(app.env.stderr, enabled=spinner_wanted(app.env))
    sink: Any
    if out.extract or (json_lines and not out.ndjson):
        sink = WholeReply(spinner)
    elif out.json or out.ndjson:
        sink = SpinnerSink(NullSink(), spinner)
    else:  # a tool step's lines go between two replies, after the spinner has gone
        sink = SpinnerSink(per_reply(app.reply_sink), spinner)
    observe = _ndjson_writer(app) if out.ndjson else None
    if out.ndjson:
        chat.on_reply = _ndjson_usage(app)
    meter = TurnMeter(chat.totals)
    try:
        with spinner:
            result = chat.send(message, sink, observe)
    except (KeyboardInterrupt, Terminated):
        if chat.store is not None and chat.statuses and chat.statuses[-1] == "interrupted":
            app.notifier.info("the partial reply was saved (aimlchat history show)")
        _report_usage(app, meter)
        raise
    except StdoutUnwritable as exc:  # the reply came whole all the same, and was saved
        exc.hint = exc.hint or ("it was saved: aimlchat history show" if chat.store else None)
        _report_usage(app, meter)
        raise
    except AimlchatError as exc:
        if isinstance(exc, ReplyFiltered):  # a reply all the same: its JSON too
            _report(app, out, exc.result)
        _report_usage(app, meter)  # a budget stop, a failed step: what was paid for
        if out.ndjson:
            _ndjson_error(app, exc)
        raise
    if not (out.extract or out.json or out.ndjson or json_lines):
        show_citations(app, result, saved=chat.store is not None)
    refused = out.extract and not app.env.stdout_tty  # print_code's error says it
    if result.finish_reason == "length" and not refused:
        app.notifier.warn("the reply was cut off at the token limit (--max-tokens)")
    quiet = result.text or out.json or out.ndjson or app.env.stdout_tty
    if not quiet and result.response.reasoning(0):  # an empty output file needs a reason
        where = "aimlchat history show" if chat.store else "--ndjson"
        app.notifier.warn(f"the model gave no answer, only its thinking (see it with {where})")
    _report(app, out, result)
    _report_usage(app, meter)
    if out.extract:
        print_code(app, result, last=out.extract == "last", saved=chat.store is not None)
    elif json_lines and not out.ndjson:
        print_json_lines(app, result.response.texts(), saved=chat.store is not None)
    return result


def show_citations(app: App, result: TurnResult, *, saved: bool) -> None:
    """The reply's sources, numbered under it on a terminal. A pipe stays the model's
    text alone; a person watching stderr hears there are sources, and where to see them."""
    citations = result.response.citations(0)
    if not citations:
        return
    from aimlchat.terminal.sources import show_sources, sources_count
    from aimlchat.words import plural

    if app.env.stdout_tty:
        show_sources(app.out, citations)
    elif app.env.stderr_tty:
        see = "aimlchat history show" if saved else "--json"
        app.notifier.info(f"the reply cites {plural(sources_count(citations), 'source')} ({see})")


class WholeReply(NullSink):
    """-x: nothing is shown while the reply comes; the spinner turns until it has ended."""

    def __init__(self, spinner: Spinner) -> None:
        self._spinner = spinner
        self._started = False

    def feed(self, text: str) -> None:
        if text and not self._started:
            self._started = True
            self._spinner.note("receiving")

    def finish(self, *, status: str | None = None) -> None:
        self._spinner.stop()  # a tool step may follow, asking on the terminal


def print_code(app: App, result: TurnResult, *, last: bool, saved: bool) -> None:
    """The first (or last) closed fenced block's content: exact bytes to a pipe. A
    reply cut off at the token limit goes to a terminal only (warned about already):
    a pipe may be `| sh`, and cut code must never run."""
    from aimlchat.chat.extract import code_blocks

    see = "aimlchat history show" if saved else "run it again without -x"
    if result.finish_reason == "length" and not app.env.stdout_tty:
        raise AimlchatError(
            "the reply was cut off at the token limit; nothing printed",
            hint=f"raise --max-tokens, or see the reply: {see}",
        )
    every = code_blocks(result.text)
    blocks = [block for block in every if block.closed]  # an open fence was cut off
    if not blocks:
        why = (
            "the reply's code block was cut off (its fence is never closed)"
            if every
            else "the reply has no fenced code block"
        )
        raise AimlchatError(why, hint=f"see the reply: {see}")
    app.out.data(blocks[-1 if last else 0].content)


def print_json_lines(app: App, texts: list[str], *, saved: bool) -> None:
    """Each reply as one compact JSON document a line (JSON Lines); one that does not
    parse (cut off by --max-tokens, say) is left out and makes the exit status 1."""
    bad = []
    for number, text in enumerate(texts, 1):
        try:
            doc = json.loads(text)
        except ValueError:
            bad.append(str(number))
            continue
        app.out.data(json.dumps(doc, ensure_ascii=False) + "\n")
    if bad:
        see = "aimlchat history show" if saved else "--json"
        raise ApiError(
            f"reply {', '.join(bad)} of {len(texts)} is not valid JSON; left out",
            hint=f"see it: {see}",
        )


def _report(app: App, out: AskOutput, result: TurnResult) -> None:
    if out.json:  # the body as the server sent it (its `meta.usage` included)
        app.out.data(json.dumps(result.response.json(), ensure_ascii=False, indent=2) + "\n")


def _report_usage(app: App, meter: TurnMeter) -> None:
    """--usage: one line for the whole turn, every request it made summed."""
    line = meter.line() if app.opts.usage else None
    if line is not None:
        app.notifier.info(line)


class TurnMeter:
    """What one turn spent (its tool steps, a retried request, a reply cut short): the
    session's totals when it began, compared with them when it ends, however it ends."""

    def __init__(self, totals: Totals) -> None:
        self._totals = totals
        self._before = replace(totals)

    def line(self) -> str | None:
        """`tokens: … · cost $0.00248 · 2 requests` for `--usage`; None when nothing
        was sent (refused before the first request)."""
        now, then = self._totals, self._before
        requests = now.paid - then.paid
        if requests <= 0:
            return None
        prompt = now.prompt_tokens - then.prompt_tokens
        completion = now.completion_tokens - then.completion_tokens
        spent = (now.micro_usd or 0) - (then.micro_usd or 0)
        unknown = now.unknown - then.unknown
        if prompt or completion:
            line = f"tokens: {prompt} prompt + {completion} completion = {prompt + completion}"
        else:
            line = "usage: the server reported no token counts"
        if unknown < requests:  # some cost known; `+?` when another's is not (as batch says)
            estimated = now.estimates > then.estimates
            line += f" · cost {money.usd(spent / money.MICRO, estimate=estimated)}"
            line += "+?" if unknown else ""
        elif prompt or completion:
            line += " · cost unknown (run `aimlchat models --pricing` once to load prices)"
        else:
            line += " · cost unknown"
        return line + (f" · {requests} requests" if requests > 1 else "")


def usage_line(usage: Usage | None, cost: Cost | None) -> str:
    """`tokens: … · cost $0.00124` (the API's charge) or `~$0.0003` (an estimate)."""
    if usage is None:
        line = "usage: the server reported no token counts"
    else:
        line = (
            f"tokens: {usage.prompt_tokens} prompt + {usage.completion_tokens} completion"
            f" = {usage.total_tokens}"
        )
    if cost is not None:
        line += f" · cost {cost.text()}"
    elif usage is not None:
        line += " · cost unknown (run `aimlchat models --pricing` once to load prices)"
    return line
