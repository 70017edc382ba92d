"""`aimlchat ask`: read stdin and the prompt, send one turn, print the reply, exit."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aimlchat.api.protocol import ChatEvent, Finish, ReasoningDelta, TextDelta, Usage
from aimlchat.chat.attach import image_part
from aimlchat.chat.conversation import compose_prompt, user_message
from aimlchat.chat.session import ReplyFiltered, TurnResult
from aimlchat.commands.runtime import App
from aimlchat.errors import AimlchatError, UsageError, redact

MAX_STDIN_BYTES = 8 * 1024 * 1024


@dataclass
class AskOutput:
    prompt: list[str]
    no_stdin: bool = False
    json: bool = False
    ndjson: bool = False


class NullSink:
    def feed(self, text: str) -> None:
        pass

    def finish(self, *, status: str | None = None) -> None:
        pass


def read_stdin_bytes(app: App) -> bytes:
    stream = getattr(app.env.stdin, "buffer", None)
    data = (
        stream.read(MAX_STDIN_BYTES + 1)
        if stream is not None
        else app.env.stdin.read(MAX_STDIN_BYTES + 1).encode("utf-8", "surrogateescape")
    )
    if len(data) > MAX_STDIN_BYTES:
        raise UsageError(
            f"stdin is larger than the {MAX_STDIN_BYTES // (1024 * 1024)} MB limit; nothing sent",
            hint="send a smaller part, e.g. with head -c",
        )
    return data


def decode_stdin(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"stdin is not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})",
            hint="convert it first, e.g. iconv -f latin1 -t utf-8",
        ) from None


def build_message(app: App, out: AskOutput) -> dict[str, Any]:
    prompt = " ".join(out.prompt).strip()
    image_stdin = "-" in app.opts.attach
    stdin_text: str | None = None
    stdin_bytes: bytes | None = None
    if not out.no_stdin and not app.env.stdin_tty:
        stdin_bytes = read_stdin_bytes(app)
        if not image_stdin:
            stdin_text = decode_stdin(stdin_bytes) if stdin_bytes else None
    elif not prompt:
        raise UsageError("no prompt", hint='try: aimlchat ask "Hello" or: echo hi | aimlchat ask')
    if image_stdin and not stdin_bytes:
        raise UsageError("-a - expects an image on stdin, and stdin is empty or a terminal")
    images = [
        image_part(spec, detail=app.opts.image_detail, read_stdin=lambda: stdin_bytes or b"")
        for spec in app.opts.attach
    ]
    return user_message(compose_prompt(prompt, stdin_text), images)


def _ndjson_writer(app: App) -> Callable[[ChatEvent], None]:
    def write(event: ChatEvent) -> None:
        obj: dict[str, Any]
        if isinstance(event, TextDelta):
            obj = {"type": "delta", "index": event.index, "text": event.text}
        elif isinstance(event, ReasoningDelta):
            obj = {"type": "reasoning", "index": event.index, "text": event.text}
        elif isinstance(event, Usage):
            obj = {
                "type": "usage",
                "prompt_tokens": event.prompt_tokens,
                "completion_tokens": event.completion_tokens,
                "total_tokens": event.total_tokens,
            }
        elif isinstance(event, Finish):
            obj = {"type": "finish", "index": event.index, "finish_reason": event.reason}
        else:
            return
        app.out.data(json.dumps(obj, ensure_ascii=False) + "\n")

    return write


def _ndjson_error(app: App, exc: AimlchatError) -> None:
    obj = {"type": "error", "message": redact(exc.message), "exit_code": int(exc.exit_code)}
    app.out.data(json.dumps(obj, ensure_ascii=False) + "\n")


def run_ask(app: App, out: AskOutput) -> TurnResult:
    if out.json and out.ndjson:
        raise UsageError("use --json or --ndjson, not both")
    message = build_message(app, out)
    chat = app.open_chat(stream=not (app.opts.no_stream or out.json))
    if out.json or out.ndjson:
        sink: Any = NullSink()
    else:
        sink = app.reply_sink()
    observe = _ndjson_writer(app) if out.ndjson else None
    try:
        result = chat.send(message, sink, observe)
    except AimlchatError as exc:
        if isinstance(exc, ReplyFiltered):  # a reply all the same: its JSON and usage too
            _report(app, out, exc.result, chat.cost_of(exc.result.usage))
        if out.ndjson:
            _ndjson_error(app, exc)
        raise
    if result.finish_reason == "length":
        app.notifier.warn("the reply was cut off at the token limit (--max-tokens)")
    quiet = result.text or out.json or out.ndjson or app.env.stdout_tty
    if not quiet and result.response.reasoning(0):  # an empty output file needs a reason
        where = "aimlchat history show" if chat.store else "--ndjson"
        app.notifier.warn(f"the model gave no answer, only its thinking (see it with {where})")
    _report(app, out, result, chat.cost_of(result.usage))
    return result


def _report(app: App, out: AskOutput, result: TurnResult, cost: float | None) -> None:
    if out.json:
        app.out.data(json.dumps(result.response.json(), ensure_ascii=False, indent=2) + "\n")
    if app.opts.usage:
        app.notifier.info(usage_line(result.usage, cost))


def usage_line(usage: Usage | None, cost: float | None) -> str:
    if usage is None:
        return "usage: the server reported no token counts"
    line = (
        f"tokens: {usage.prompt_tokens} prompt + {usage.completion_tokens} completion"
        f" = {usage.total_tokens}"
    )
    if cost is not None:
        line += f" · cost ${cost:.6f}"
    else:
        line += " · cost unknown (run `aimlchat models --pricing` once to load prices)"
    return line
