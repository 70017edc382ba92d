"""A real HTTP server on 127.0.0.1 that plays the AI/ML API, for tests and for trying
the CLI by hand (`python tests/loopback.py --port 8765`).

Each request to /v1/chat/completions or /v1/responses takes the next scripted `Reply`
from a queue (or the default reply) and plays it over the socket: SSE chunks with
delays, stalls, dropped connections, error bodies, a body delimited by closing the
socket. A `Reply(text=…)` takes the shape of the path it answers.
Every request is recorded (method, path, headers, JSON body).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import re
import socket
import sys
import threading
import time
import urllib.parse
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

try:
    from tests.loopback_account import default_account
except ImportError:  # run by hand: python tests/loopback.py
    from loopback_account import default_account  # type: ignore[import-not-found,no-redef]
try:
    from tests.loopback_charges import charged
except ImportError:  # run by hand: python tests/loopback.py
    from loopback_charges import charged  # type: ignore[import-not-found,no-redef]
try:
    from tests.loopback_deprecations import default_deprecations, feed_answer
except ImportError:  # run by hand: python tests/loopback.py
    from loopback_deprecations import (  # type: ignore[import-not-found,no-redef]
        default_deprecations,
        feed_answer,
    )


def chunk(
    text: str | None = None,
    *,
    finish: str | None = None,
    usage: dict[str, int] | None = None,
    index: int = 0,
    empty_choices: bool = False,
) -> str:
    """One OpenAI-style stream chunk as an SSE event."""
    obj: dict[str, Any] = {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "meta-llama/llama-4-scout",
    }
    if empty_choices:
        obj["choices"] = []
    else:
        delta = {"content": text} if text is not None else {}
        obj["choices"] = [{"index": index, "delta": delta, "finish_reason": finish}]
    if usage is not None:
        obj["usage"] = usage
    return f"data: {json.dumps(obj)}\n\n"


def sse_reply(pieces: list[str], *, usage: bool = True) -> list[str]:
    events = [chunk(p) for p in pieces]
    events.append(chunk(finish="stop"))
    if usage:
        events.append(
            chunk(
                empty_choices=True,
                usage={
                    "prompt_tokens": 10,
                    "completion_tokens": len(pieces),
                    "total_tokens": 10 + len(pieces),
                },
            )
        )
    events.append("data: [DONE]\n\n")
    return events


def completion(text: str | list[str], n: int = 1) -> dict[str, Any]:
    """A whole reply: `n` choices of `text` (numbered after the first), or one per text."""
    texts = text if isinstance(text, list) else [text] + [f"{text} ({i + 1})" for i in range(1, n)]
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1,
        "model": "meta-llama/llama-4-scout",
        "choices": [
            {
                "index": i,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": content},
            }
            for i, content in enumerate(texts)
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


# The shapes reasoning models stream their thinking in: `delta.reasoning_content`
# (DeepSeek, Qwen, vLLM), `delta.reasoning` (OpenRouter and others), and `think`, a
# `<think>…</think>` block at the start of `content` (R1 distills on some hosts), and
# `reasoning_details` (OpenRouter, the AI/ML API's reasoning models): a list of parts, of
# which only the readable ones (`reasoning.text`) count; an encrypted part rides along.
REASONING_SHAPES = ("reasoning_content", "reasoning", "think", "reasoning_details")


def _details(text: str, *, encrypted: bool = False) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = [
        {"type": "reasoning.text", "text": text, "format": "unknown", "index": 0}
    ]
    if encrypted:  # opaque to us: must never show up as thinking
        parts.append({"type": "reasoning.encrypted", "data": "gAAAAB-secret", "index": 1})
    return parts


def _delta_chunk(delta: dict[str, Any], index: int = 0) -> str:
    obj = {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "deepseek/deepseek-r1",
        "choices": [{"index": index, "delta": delta, "finish_reason": None}],
    }
    return f"data: {json.dumps(obj)}\n\n"


def reasoning_reply(
    thinking: list[str],
    answer: list[str],
    *,
    shape: str = "reasoning_content",
    reasoning_tokens: int | None = None,
    close: bool = True,
) -> list[str]:
    """SSE events of a reasoning model's reply: the thinking pieces, then the answer's.

    With `think`, the pieces go in `content` as given, after `<think>` (and before
    `</think>\n\n` when `close`): split the tags across pieces yourself to test that."""
    if shape == "think":
        inside = ["<think>\n", *thinking] + (["</think>\n\n"] if close else [])
        events = [_delta_chunk({"content": piece}) for piece in [*inside, *answer]]
    elif shape == "reasoning_details":
        last = len(thinking) - 1
        events = [
            _delta_chunk({shape: _details(piece, encrypted=n == last)})
            for n, piece in enumerate(thinking)
        ]
        events += [_delta_chunk({"content": piece}) for piece in answer]
    else:
        events = [_delta_chunk({shape: piece}) for piece in thinking]
        events += [_delta_chunk({"content": piece}) for piece in answer]
    events.append(chunk(finish="stop"))
    usage: dict[str, Any] = {
        "prompt_tokens": 10,
        "completion_tokens": len(thinking) + len(answer),
        "total_tokens": 10 + len(thinking) + len(answer),
    }
    if reasoning_tokens is not None:
        usage["completion_tokens_details"] = {"reasoning_tokens": reasoning_tokens}
    events.append(chunk(empty_choices=True, usage=usage))
    events.append("data: [DONE]\n\n")
    return events


def reasoning_completion(thinking: str, answer: str, *, shape: str) -> dict[str, Any]:
    """A whole (non-streamed) reasoning reply in one of REASONING_SHAPES."""
    body = completion(answer)
    message = body["choices"][0]["message"]
    if shape == "think":
        message["content"] = f"<think>\n{thinking}\n</think>\n\n{answer}"
    elif shape == "reasoning_details":
        message[shape] = _details(thinking, encrypted=True)
    else:
        message[shape] = thinking
    return body


def thinking_words(seconds: float = 3.0, delay: float = 0.05) -> list[str]:
    """Enough words of plausible thinking to stream for about `seconds`."""
    text = (
        "Okay, the user wants to know why the sky is blue. Let me recall Rayleigh "
        "scattering: shorter wavelengths scatter more, roughly as the inverse fourth power. "
        "Violet scatters even more than blue, but the sun emits less of it and our eyes are "
        "less sensitive to it.\n\nSo the answer should mention scattering, wavelength, and "
        "perception. Maybe also sunsets, where the light travels through more air.\n"
    )
    words = re.findall(r"\S+\s*", text)
    while len(words) * delay < seconds:
        words += words
    return words[: max(1, int(seconds / delay))]


# -- the Responses API (/v1/responses) -----------------------------------------------------

RESPONSES_MODEL = "openai/gpt-5-5-pro"
# What the AI/ML API answers on /chat/completions for a model that only answers on
# /responses (its documentation's words for openai/gpt-5-5-pro).
RESPONSES_ONLY = {
    "message": "This model can only be called via the /responses endpoint",
    "path": "/v1/chat/completions",
    "requestId": "req-responses-only",
    "statusCode": 400,
    "timestamp": "2026-08-01T00:00:00.000Z",
}
Call = tuple[str, str, str]  # (call_id, name, arguments as JSON text)
Cite = tuple[str, str]  # (url, title)


def responses_event(kind: str, **fields: Any) -> str:
    """One Responses stream event: `event:` names it, the data carries its `type`."""
    return f"event: {kind}\ndata: {json.dumps({'type': kind, **fields})}\n\n"


def responses_usage(
    input_tokens: int = 10, output_tokens: int = 5, *, reasoning_tokens: int | None = None
) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": output_tokens,
        "total_tokens": input_tokens + output_tokens,
    }
    if reasoning_tokens is not None:
        usage["output_tokens_details"] = {"reasoning_tokens": reasoning_tokens}
    return usage


def _response_object(
    output: list[dict[str, Any]],
    *,
    status: str = "completed",
    usage: dict[str, Any] | None = None,
    error: dict[str, Any] | None = None,
    incomplete: str | None = None,
) -> dict[str, Any]:
    return {
        "id": "resp-test",
        "object": "response",
        "created_at": 1,
        "status": status,
        "error": error,
        "incomplete_details": {"reason": incomplete} if incomplete else None,
        "model": RESPONSES_MODEL,
        "output": output,
        "output_text": "".join(
            c.get("text", "")
            for item in output
            if item["type"] == "message"
            for c in item["content"]
        ),
        "store": False,
        "usage": usage,
    }


def _output_items(
    text: str, reasoning: str, calls: list[Call], citations: list[Cite]
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    if reasoning:
        summary = [{"type": "summary_text", "text": reasoning}]
        items.append({"id": "rs_1", "type": "reasoning", "summary": summary})
    if text or not calls:
        notes = [
            {"type": "url_citation", "url": url, "title": title, "start_index": 0,
             "end_index": len(text)}
            for url, title in citations
        ]  # fmt: skip
        content = [{"type": "output_text", "text": text, "annotations": notes}]
        items.append(
            {"id": "msg_1", "type": "message", "role": "assistant", "status": "completed",
             "content": content}
        )  # fmt: skip
    for n, (call_id, name, arguments) in enumerate(calls):
        items.append(
            {"id": f"fc_{n}", "type": "function_call", "status": "completed",
             "call_id": call_id, "name": name, "arguments": arguments}
        )  # fmt: skip
    return items


def responses_body(
    text: str = "Hello from the loopback server.",
    *,
    reasoning: str = "",
    calls: list[Call] | None = None,
    citations: list[Cite] | None = None,
    usage: dict[str, Any] | None = None,
    status: str = "completed",
    incomplete: str | None = None,
) -> dict[str, Any]:
    """A whole (unstreamed) Responses reply: the response object."""
    output = _output_items(text, reasoning, calls or [], citations or [])
    return _response_object(
        output, status=status, usage=usage or responses_usage(), incomplete=incomplete
    )


def responses_stream(
    pieces: list[str],
    *,
    reasoning: list[str] | None = None,
    calls: list[Call] | None = None,
    citations: list[Cite] | None = None,
    usage: dict[str, Any] | None = None,
    per_chunk: int = 1,
    incomplete: str | None = None,
    done_arguments: bool = True,
) -> list[str]:
    """SSE events of a Responses reply as OpenAI streams it: a reasoning item whose
    summary arrives in `reasoning` pieces, a message whose text arrives in `pieces` (its
    citations as annotations), function calls whose arguments arrive `per_chunk`
    characters at a time (and whole again at their end, unless not `done_arguments`),
    then `response.completed` (or `response.incomplete` with `incomplete` as the reason)."""
    thinking, calls, citations = reasoning or [], calls or [], citations or []
    text = "".join(pieces)
    items = _output_items(text, "".join(thinking), calls, citations)
    events = [
        responses_event("response.created", response=_response_object([], status="in_progress"))
    ]
    for at, item in enumerate(items):
        added = {**item, "status": "in_progress"}
        if item["type"] == "message":
            added["content"] = []
        elif item["type"] == "reasoning":
            added["summary"] = []
        elif item["type"] == "function_call":
            added["arguments"] = ""
        events.append(responses_event("response.output_item.added", output_index=at, item=added))
        where = {"item_id": item["id"], "output_index": at}
        if item["type"] == "reasoning":
            part = {"type": "summary_text", "text": ""}
            events.append(
                responses_event("response.reasoning_summary_part.added", **where,
                                summary_index=0, part=part)
            )  # fmt: skip
            events += [
                responses_event("response.reasoning_summary_text.delta", **where,
                                summary_index=0, delta=piece)
                for piece in thinking
            ]  # fmt: skip
        elif item["type"] == "message":
            events += [
                responses_event("response.output_text.delta", **where, content_index=0,
                                delta=piece, logprobs=[])
                for piece in pieces
            ]  # fmt: skip
            events += [
                responses_event("response.output_text.annotation.added", **where,
                                content_index=0, annotation_index=n, annotation=note)
                for n, note in enumerate(item["content"][0]["annotations"])
            ]  # fmt: skip
        else:
            arguments = item["arguments"]
            events += [
                responses_event("response.function_call_arguments.delta", **where,
                                delta=arguments[i : i + per_chunk])
                for i in range(0, len(arguments), per_chunk)
            ]  # fmt: skip
            events.append(
                responses_event("response.function_call_arguments.done", **where,
                                arguments=arguments)
            )  # fmt: skip
        done = (
            item if done_arguments or item["type"] != "function_call" else {**item, "arguments": ""}
        )
        events.append(responses_event("response.output_item.done", output_index=at, item=done))
    usage = usage or responses_usage(output_tokens=len(pieces) + len(thinking))
    if incomplete:
        final = _response_object(items, status="incomplete", usage=usage, incomplete=incomplete)
        events.append(responses_event("response.incomplete", response=final))
    else:
        final = _response_object(items, usage=usage)
        events.append(responses_event("response.completed", response=final))
    return events


def responses_failed(
    message: str = "The server had an error while processing your request.",
    code: str = "server_error",
    *,
    pieces: list[str] | None = None,
) -> list[str]:
    """A Responses stream that fails: some text (`pieces`), then `response.failed`."""
    events = [
        responses_event("response.created", response=_response_object([], status="in_progress"))
    ]
    events += [
        responses_event("response.output_text.delta", item_id="msg_1", output_index=0,
                        content_index=0, delta=piece)
        for piece in pieces or []
    ]  # fmt: skip
    error = {"code": code, "message": message}
    failed = _response_object([], status="failed", usage=responses_usage(), error=error)
    events.append(responses_event("response.failed", response=failed))
    return events


def responses_error(message: str = "Rate limit reached", code: str = "rate_limit_exceeded") -> str:
    """The stream's `error` event (no `response.failed` follows it)."""
    return responses_event("error", code=code, message=message, param=None)


def _last_input_text(body: dict[str, Any]) -> str:
    for item in reversed(body.get("input") or []):
        if isinstance(item, dict) and item.get("role") == "user":
            content = item.get("content")
            if isinstance(content, str):
                return content
            return "".join(c.get("text", "") for c in content or [] if isinstance(c, dict))
    return ""


def responses_script(delay: float = 0.05) -> Callable[[dict[str, Any]], Reply]:
    """`--scenario responses`: /responses answers in its own shape: a reasoning summary,
    then the answer; with function tools offered, a call to the first one (its result
    comes back quoted); with the web-search tool, two citations. /chat/completions
    refuses openai/gpt-5-5-pro with the API's 400 and answers other models as usual."""

    def script(request: dict[str, Any]) -> Reply:
        body = request.get("json") or {}
        if not is_responses(request):
            if body.get("model") in (RESPONSES_MODEL, RESPONSES_MODEL.split("/")[1]):
                return Reply(status=400, body=RESPONSES_ONLY)
            return default_reply(request)
        items = body.get("input") or []
        tools = [t for t in body.get("tools") or [] if isinstance(t, dict)]
        functions = [t["name"] for t in tools if t.get("type") == "function"]
        searched = any(str(t.get("type", "")).startswith("web_search") for t in tools)
        last = items[-1] if items and isinstance(items[-1], dict) else {}
        thinking = re.findall(r"\S+\s*", "Let me think about what was asked, then answer.")
        calls: list[Call] = []
        if last.get("type") == "function_call_output":
            text = f"The tool said:\n\n> {str(last.get('output'))[:300]}\n\nThat is all I needed."
        elif functions:
            args = {"weather": {"city": "Paris"}, "read_file": {"path": "README.md"}}
            calls = [("call_1", functions[0], json.dumps(args.get(functions[0], {})))]
            text = ""
        else:
            text = f"You asked over /v1/responses: {_last_input_text(body)}"
        cites = [("https://example.com/a", "Source A"), ("https://example.org/b", "Source B")]
        citations = cites if searched and text else []
        if not body.get("stream"):
            return Reply(
                body=responses_body(
                    text, reasoning="".join(thinking), calls=calls, citations=citations,
                    usage=responses_usage(20, 30, reasoning_tokens=12),
                )
            )  # fmt: skip
        return Reply(
            events=responses_stream(
                re.findall(r"\S+\s*", text), reasoning=thinking, calls=calls,
                citations=citations, usage=responses_usage(20, 30, reasoning_tokens=12),
                per_chunk=4,
            ),
            delay=delay,
        )  # fmt: skip

    return script


@dataclass
class Gate:
    """Holds a streamed reply before its event `at` until the test opens it: a test acts
    (types ahead, sends a signal) at a known point of a reply, waiting on events, not time."""

    at: int
    reached: threading.Event = field(default_factory=threading.Event)
    opened: threading.Event = field(default_factory=threading.Event)

    def wait_reached(self, timeout: float = 15) -> None:
        assert self.reached.wait(timeout), "the reply never reached the gate"

    def open(self) -> None:
        self.opened.set()


@dataclass
class Reply:
    """What the server does for one chat request."""

    status: int = 200
    events: list[str] | None = None  # SSE events (streamed)
    body: bytes | str | dict[str, Any] | None = None  # a plain body (JSON if dict)
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = None
    mode: str = "chunked"  # chunked | close (no length: ends when the socket closes)
    delay: float = 0.0  # between events
    first_delay: float = 0.0  # before the first event (after the headers)
    header_delay: float = 0.0  # before the status line
    drop_after: int | None = None  # close the socket after this many events, no end
    stall_after: int | None = None  # stop sending (keep the socket) after this many events
    stall_for: float = 30.0
    # Content-Encoding "gzip" or "deflate": a body compressed whole; events compressed as
    # one stream, flushed (Z_SYNC_FLUSH) after each so each can be decoded on arrival.
    encoding: str | None = None
    gate: Gate | None = None  # held before event gate.at until the test opens it
    # A plain text reply in these pieces, in the shape of the path it answers (chat
    # completions or responses), streamed when the request asks: for tests of either API.
    text: list[str] | None = None


def _compressor(encoding: str) -> Any:
    return zlib.compressobj(wbits=31 if encoding == "gzip" else 15)


def shaped(reply: Reply, request: dict[str, Any]) -> Reply:
    """A `Reply(text=…)` made the events or body its request's path and `stream` ask for."""
    if reply.text is None:
        return reply
    body = request.get("json") or {}
    stream = bool(body.get("stream"))
    if is_responses(request):
        if stream:
            return dataclasses.replace(reply, text=None, events=responses_stream(reply.text))
        return dataclasses.replace(reply, text=None, body=responses_body("".join(reply.text)))
    if stream:
        return dataclasses.replace(reply, text=None, events=sse_reply(reply.text))
    return dataclasses.replace(reply, text=None, body=completion("".join(reply.text)))


def is_responses(request: dict[str, Any]) -> bool:
    return str(request.get("path", "")).split("?")[0].endswith("/responses")


def default_reply(request: dict[str, Any]) -> Reply:
    body = request.get("json") or {}
    if is_responses(request):
        return shaped(Reply(text=["Hello", " from", " the", " loopback", " server."]), request)
    if body.get("stream"):
        return Reply(events=sse_reply(["Hello", " from", " the", " loopback", " server."]))
    return Reply(body=completion("Hello from the loopback server.", int(body.get("n") or 1)))


MODELS = {
    "object": "list",
    "data": [
        {
            "id": "meta-llama/llama-4-scout",
            "type": "openai/chat-completions",
            "aliases": ["llama-4-scout"],
            "tags": ["playground:chat"],
            "info": {
                "name": "Llama 4 Scout",
                "developer": "Meta",
                "contextLength": 1000000,
                "outputMax": 8192,
            },
            "modalities": {"input": ["text", "image"], "output": ["text"]},
            "capabilities": ["streaming", "vision"],
            "pricing": {
                "kind": "fixed",
                "currency": "USD",
                "units": [
                    {"name": "input_tokens", "measure": "input", "price": 0.189, "per": 1000000},
                    {"name": "output_tokens", "measure": "output", "price": 0.63, "per": 1000000},
                ],
            },
        },
        {
            "id": "meta-llama/Llama-3.3-70B-Instruct-Turbo",
            "type": "openai/chat-completions",
            "aliases": ["llama-3.3-70b"],
            "tags": [],
            "info": {
                "name": "Llama 3.3 70B Instruct Turbo",
                "developer": "Meta",
                "contextLength": 128000,
                "outputMax": 4096,
            },
            "modalities": {"input": ["text"], "output": ["text"]},
            "pricing": {
                "kind": "fixed",
                "currency": "USD",
                "units": [
                    {"name": "input_tokens", "measure": "input", "price": 0.000924, "per": 1000},
                    {"name": "output_tokens", "measure": "output", "price": 0.000924, "per": 1000},
                ],
            },
        },
        {
            "id": "openai/gpt-4o",
            "type": "openai/chat-completions",
            "aliases": ["gpt-4o"],
            "tags": [],
            "info": {
                "name": "GPT-4o",
                "developer": "Open AI",
                "contextLength": 128000,
                "outputMax": 16384,
            },
            "modalities": {"input": ["text", "image"], "output": ["text"]},
            "pricing": {
                "kind": "fixed",
                "currency": "USD",
                "units": [
                    {"name": "input_tokens", "measure": "input", "price": 2.5, "per": 1000000},
                    {"name": "output_tokens", "measure": "output", "price": 10, "per": 1000000},
                ],
            },
        },
        {
            "id": "flux/schnell",
            "type": "bfl/image-generation",
            "aliases": [],
            "tags": [],
            "info": {"name": "FLUX.1 schnell", "developer": "Black Forest Labs"},
            "pricing": {"kind": "variable"},
        },
    ],
}
MODELS_ETAG = '"models-v1"'
# For `--scenario responses`: a model that answers only on /v1/responses.
RESPONSES_CARD: dict[str, Any] = {
    "id": "openai/gpt-5-5-pro",
    "type": "openai/responses",
    "aliases": ["gpt-5-5-pro"],
    "tags": [],
    "info": {
        "name": "GPT-5.5 Pro",
        "developer": "Open AI",
        "contextLength": 1050000,
        "outputMax": 128000,
    },
    "modalities": {"input": ["text", "image"], "output": ["text"]},
}
MODELS_WITH_RESPONSES = {**MODELS, "data": [*MODELS["data"], RESPONSES_CARD]}


class Handler(BaseHTTPRequestHandler):
    server: LoopbackServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        if self.server.nodelay:
            # Headers and body go out in two writes; with Nagle on, the body waits for
            # the client's delayed ACK (~40 ms) on every keep-alive request after the first.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _record(self, body: bytes) -> dict[str, Any]:
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        request = {
            "method": self.command,
            "path": self.path,
            "headers": dict(self.headers),
            "body": body,
            "json": parsed,
            "time": time.monotonic(),
        }
        with self.server.lock:
            self.server.requests.append(request)
        return request

    def do_GET(self) -> None:
        request = self._record(b"")
        page = self.server.pages.get(self.path)
        if page is not None:  # any other web page, for `-f URL`
            self._play(page, request)
            return
        path, _, query = self.path.partition("?")
        account = self.server.account.get(path)  # /v2/billing, /v2/usage[/detail]
        if account is not None:
            if callable(account):
                account = account(urllib.parse.parse_qs(query))
            self._play(account if isinstance(account, Reply) else Reply(body=account), request)
            return
        if self.path.split("?")[0].endswith("/models/deprecations"):
            deprecations = self.server.deprecations  # tests/loopback_deprecations.py
            self._plain(*feed_answer(deprecations, self.headers.get("If-None-Match")))
            return
        if not self.path.split("?")[0].endswith("/models"):
            self._plain(404, {"message": "Not found", "statusCode": 404})
            return
        if self.server.models_reply is not None:
            self._play(self.server.models_reply, request)
            return
        if self.headers.get("If-None-Match") == MODELS_ETAG:
            self.send_response(304)
            self.send_header("ETag", MODELS_ETAG)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self._plain(200, MODELS, {"ETag": MODELS_ETAG})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        request = self._record(self.rfile.read(length))
        if not self.path.endswith(("/chat/completions", "/responses")):
            self._plain(404, {"message": "Cannot POST " + self.path, "statusCode": 404})
            return
        with self.server.lock:
            reply = self.server.queue.pop(0) if self.server.queue else None
            self.server.in_flight += 1
            self.server.peak_in_flight = max(self.server.peak_in_flight, self.server.in_flight)
        try:
            reply = shaped(reply or self.server.script(request), request)
            if self.server.charges is not None:  # tests/loopback_charges.py
                with self.server.lock:
                    self.server.replies += 1
                    n = self.server.replies
                reply = charged(reply, request, n, self.server.charges, self.server.charge_usd)
            self._play(reply, request)
        finally:
            with self.server.lock:
                self.server.in_flight -= 1

    def _plain(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self._play(Reply(status=status, body=body, headers=headers or {}), {})

    def _play(self, reply: Reply, request: dict[str, Any]) -> None:
        if reply.header_delay:
            time.sleep(reply.header_delay)
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if reply.events is None:
            body = reply.body if reply.body is not None else b""
            if isinstance(body, dict):
                body = json.dumps(body)
            data = body.encode() if isinstance(body, str) else body
            ctype = reply.content_type or (
                "application/json" if isinstance(reply.body, dict) else "text/plain"
            )
            if reply.encoding:
                z = _compressor(reply.encoding)
                data = z.compress(data) + z.flush()
                self.send_header("Content-Encoding", reply.encoding)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        self.send_header("Content-Type", reply.content_type or "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        if reply.encoding:
            self.send_header("Content-Encoding", reply.encoding)
        if reply.mode == "chunked":
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.flush()
        try:
            self._stream(reply)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _send(self, data: bytes, chunked: bool) -> None:
        if chunked:
            data = b"%x\r\n%s\r\n" % (len(data), data)
        self.wfile.write(data)
        self.wfile.flush()
        with self.server.lock:
            self.server.sent.append((time.monotonic(), data))

    def _stream(self, reply: Reply) -> None:
        chunked = reply.mode == "chunked"
        z = _compressor(reply.encoding) if reply.encoding else None
        if reply.first_delay:
            time.sleep(reply.first_delay)
        for i, event in enumerate(reply.events or []):
            if reply.drop_after is not None and i >= reply.drop_after:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if reply.stall_after is not None and i >= reply.stall_after:
                time.sleep(reply.stall_for)
                self.close_connection = True
                return
            if reply.gate is not None and i == reply.gate.at:
                reply.gate.reached.set()
                reply.gate.opened.wait(30)
            if i and reply.delay:
                time.sleep(reply.delay)
            data = event.encode("utf-8")
            if z is not None:
                data = z.compress(data) + z.flush(zlib.Z_SYNC_FLUSH)
            self._send(data, chunked)
        if z is not None:
            self._send(z.flush(), chunked)
        if chunked:
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()


class LoopbackServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        self.lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []
        self.queue: list[Reply] = []
        self.sent: list[tuple[float, bytes]] = []
        self.models_reply: Reply | None = None
        self.pages: dict[str, Reply] = {}  # GET PATH -> a page, for `-f URL`
        self.account: dict[str, Any] = default_account()  # tests/loopback_account.py
        # The model retirement feed's entries (tests/loopback_deprecations.py); None: 404.
        self.deprecations: list[dict[str, Any]] | None = default_deprecations()
        self.nodelay = False  # TCP_NODELAY: what a real server does; off keeps old timings
        # The AI/ML API's charge and ids on each reply (tests/loopback_charges.py): None
        # sends none of it (another server); "top" or "nested": where a Responses
        # stream's charge sits.
        self.charges: str | None = None
        self.charge_usd = 0.00124
        self.replies = 0  # chat replies answered with charges: their inference ids
        self.in_flight = 0  # chat requests being answered right now
        self.peak_in_flight = 0
        self.script: Callable[[dict[str, Any]], Reply] = default_reply
        self.dropped = 0  # connections the client closed while they were being answered
        self.client_gone = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def start(self) -> LoopbackServer:
        # A client that connects and resets before accept() leaves select() saying "ready"
        # and a blocking accept() waiting forever: shutdown() then hangs the suite. With a
        # timeout, accept() gives up (an OSError socketserver ignores); the sockets it does
        # accept are blocking all the same.
        self.socket.settimeout(1.0)
        # shutdown() waits for the loop's next poll: the default 0.5 s was half the suite's time.
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away mid-reply (Ctrl-C, a timeout, a test that is done) is
        what these tests do on purpose: counted, not printed. Anything else is a bug here."""
        if isinstance(sys.exc_info()[1], ConnectionError):  # reset, broken pipe, aborted
            with self.lock:
                self.dropped += 1
            self.client_gone.set()
            return
        super().handle_error(request, client_address)

    def push(self, *replies: Reply) -> None:
        with self.lock:
            self.queue.extend(replies)

    def chat_bodies(self) -> list[dict[str, Any]]:
        with self.lock:
            return [r["json"] for r in self.requests if r["path"].endswith("/chat/completions")]

    def responses_bodies(self) -> list[dict[str, Any]]:
        with self.lock:
            return [r["json"] for r in self.requests if is_responses(r)]

    def api_paths(self) -> list[str]:
        """The path of each POST (chat completions or responses), in order."""
        with self.lock:
            return [r["path"] for r in self.requests if r["method"] == "POST"]


@dataclass
class BatchScript:
    """Answers for `aimlchat batch` tests: each chat request after `delay` seconds, with a
    completion that echoes its prompt. A prompt containing `fail` gets a 400; requests
    number `storm_at` to `storm_at + storm_size - 1` (1-based) get a 429 with Retry-After."""

    delay: float = 0.1
    delay_for: Callable[[str], float] | None = None  # per prompt, instead of `delay`
    fail: str = "FAIL"
    storm_at: int | None = None
    storm_size: int = 0
    retry_after: str | None = "1"
    count: int = 0
    rate_limited_at: list[float] = field(default_factory=list)  # monotonic, per 429 sent
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: dict[str, Any]) -> Reply:
        with self.lock:
            self.count += 1
            number = self.count
        prompt = str((request.get("json") or {}).get("messages", [{}])[-1].get("content", ""))
        if self.storm_at is not None and self.storm_at <= number < self.storm_at + self.storm_size:
            with self.lock:
                self.rate_limited_at.append(time.monotonic())
            headers = {"Retry-After": self.retry_after} if self.retry_after else {}
            return Reply(status=429, body={"error": {"message": "slow down"}}, headers=headers)
        if self.fail and self.fail in prompt:
            return Reply(status=400, body={"error": {"message": f"cannot answer {prompt!r}"}})
        delay = self.delay_for(prompt) if self.delay_for else self.delay
        return Reply(body=completion(f"echo: {prompt}"), header_delay=delay)


def markdown_reply(lines: int) -> str:
    """A long, realistic Markdown reply: headings, lists, a table, code fences."""
    out = []
    i = 0
    while len(out) < lines:
        i += 1
        out += [
            f"## Section {i}",
            "",
            f"Paragraph {i} explains **something** with `code`.",
            "",
            f"- item {i}.1",
            f"- item {i}.2",
            "",
            "| a | b |",
            "|---|---|",
            f"| {i} | {i * 2} |",
            "",
            "```python",
            f"def f{i}(x):",
            "    return x * 2",
            "```",
            "",
        ]
    return "\n".join(out[:lines]) + "\n"


def cmd_reply(body: dict[str, Any]) -> str:
    """`aimlchat cmd` played: a harmless command, another one per revision, and an
    explanation when asked to describe one."""
    last = body["messages"][-1]["content"]
    if isinstance(last, str) and last.startswith("Explain briefly"):
        return "- `echo` prints its arguments.\n- `$((6*7))` is **arithmetic**: it becomes 42.\n"
    revisions = sum(1 for m in body["messages"] if m["role"] == "user") - 1
    return f"echo CMD-RAN-$((6*7)) REVISION-{revisions}" if revisions else "echo CMD-RAN-$((6*7))"


# What `main` serves at /page.html, for trying `-f URL` by hand: markup, a script and a
# style that the page's text must not carry.
BUILTIN_PAGE = """<!doctype html>
<html><head><title>Loopback page</title>
<style>body { color: red }</style><script>alert("not text")</script></head>
<body><nav>Home · About</nav>
<h1>A page for -f URL</h1>
<p>This page is served by <b>tests/loopback.py</b> so that <code>aimlchat ask -f URL</code>
can be tried by hand, with no network.</p>
<ul><li>first point</li><li>second point</li></ul>
</body></html>
"""


def _add_by_hand_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "errors and pages",
        "e.g. --status 429 --retry-after 2, --status 401, --status 500; "
        "aimlchat ask -f http://127.0.0.1:PORT/page.html",
    )
    group.add_argument(
        "--status",
        type=int,
        metavar="CODE",
        help="answer every API request (chat and /models) with this HTTP status (400-599) "
        'and an API-shaped body, {"statusCode": CODE, "message": ...}',
    )
    group.add_argument(
        "--retry-after", metavar="SECONDS", help="with --status: send this Retry-After header"
    )
    group.add_argument(
        "--body", metavar="TEXT", help="with --status: this body instead (JSON if it parses)"
    )
    group.add_argument(
        "--header-delay",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait this long before answering each chat request at all (a slow non-streamed "
        "reply): try `aimlchat ask --timeout 1` against --header-delay 3",
    )
    group.add_argument(
        "--log", action="store_true", help="print a numbered line for each chat request"
    )
    group.add_argument(
        "--charges",
        action="store_true",
        help="send the AI/ML API's charge (meta.usage, x-aimlapi-usd-spent) and request "
        "ids (x-inference-id, the X-Client-Request-Id echo) with every reply",
    )
    group.add_argument(
        "--page",
        action="append",
        default=[],
        metavar="PATH=FILE",
        help="serve FILE at GET PATH, for -f URL (repeatable; its type from its name); "
        "/page.html is built in",
    )


def _error_reply(status: int, retry_after: str | None, body: str | None) -> Reply:
    from http import HTTPStatus

    headers = {"Retry-After": retry_after} if retry_after else {}
    if body is None:
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:  # a status Python has no name for (499)
            phrase = "Error"
        return Reply(status=status, body={"statusCode": status, "message": phrase}, headers=headers)
    try:
        json.loads(body)
        ctype = "application/json"
    except ValueError:
        ctype = "text/plain"
    return Reply(status=status, body=body, headers=headers, content_type=ctype)


def _apply_by_hand_options(
    server: LoopbackServer, args: argparse.Namespace, parser: argparse.ArgumentParser
) -> list[str]:
    """Errors and pages as the options ask; the lines that tell what is served."""
    import mimetypes
    from pathlib import Path

    server.pages["/page.html"] = Reply(body=BUILTIN_PAGE, content_type="text/html; charset=utf-8")
    for spec in args.page:
        path, sep, name = spec.partition("=")
        if not sep or not path or not name:
            parser.error(f"--page takes PATH=FILE, not {spec!r}")
        try:
            data = Path(name).read_bytes()
        except OSError as exc:
            parser.error(f"--page {spec}: {exc.strerror or exc}")
        ctype = mimetypes.guess_type(name)[0] or "text/plain"
        path = path if path.startswith("/") else "/" + path
        server.pages[path] = Reply(body=data, content_type=f"{ctype}; charset=utf-8")
    origin = server.base_url.removesuffix("/v1")
    lines = ["pages: " + ", ".join(origin + path for path in server.pages)]
    if args.charges:
        server.charges = "top"
        lines.append(f"every reply is charged ${server.charge_usd} and carries its ids")
    if args.status is None:
        if args.retry_after or args.body is not None:
            parser.error("--retry-after and --body go with --status")
        return lines
    if not 400 <= args.status <= 599:
        parser.error("--status takes an error status, 400 to 599")
    reply = _error_reply(args.status, args.retry_after, args.body)
    server.script = lambda request: reply
    server.models_reply = reply
    wait = f" with Retry-After: {args.retry_after}" if args.retry_after else ""
    return [*lines, f"every API request gets HTTP {args.status}{wait}"]


def _slow_and_logged(server: LoopbackServer, args: argparse.Namespace) -> None:
    """--header-delay and --log, around whatever script the other options chose."""
    if not args.header_delay and not args.log:
        return
    script = server.script

    def wrapped(request: dict[str, Any]) -> Reply:
        if args.log:
            print(f"chat request #{len(server.api_paths())}", flush=True)
        reply = script(request)
        if args.header_delay:
            reply = dataclasses.replace(reply, header_delay=args.header_delay)
        return reply

    server.script = wrapped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--scenario",
        default="hello",
        choices=[
            "hello",
            "slow",
            "long",
            "escapes",
            "echo",
            "reasoning",
            "tools",
            "smallctx",
            "cmd",
            "responses",
        ],
    )
    parser.add_argument("--delay", type=float, default=0.05)
    parser.add_argument("--first-delay", type=float, default=0.0, help="before the first token")
    _add_by_hand_options(parser)
    args = parser.parse_args()
    server = LoopbackServer(args.port)

    if args.scenario == "responses":
        server.models_reply = Reply(body=MODELS_WITH_RESPONSES)
        server.script = responses_script(args.delay)
        notes = _apply_by_hand_options(server, args, parser)
        _slow_and_logged(server, args)
        print(f"loopback AI/ML API on {server.base_url} (scenario responses: try "
              f"-m {RESPONSES_MODEL})", flush=True)  # fmt: skip
        print("\n".join(notes), flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()
        return

    if args.scenario in ("tools", "smallctx"):
        if not __package__:  # run as a script: its folder is on sys.path, not the repo
            import os
            import sys

            sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        from tests import loopback_tools

        server.models_reply = Reply(body=loopback_tools.MODELS_WITH_SMALL)
        server.script = getattr(loopback_tools, f"{args.scenario}_script")
        notes = _apply_by_hand_options(server, args, parser)
        _slow_and_logged(server, args)
        print(f"loopback AI/ML API on {server.base_url} (scenario {args.scenario})", flush=True)
        print("\n".join(notes), flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()
        return

    def scripted(request: dict[str, Any]) -> Reply:
        body = request.get("json") or {}
        if not body.get("stream") and args.scenario != "reasoning":
            return default_reply(request)
        if args.scenario == "slow":
            words = (
                "This reply arrives slowly, one word at a time, so that you can "
                "press Ctrl-C in the middle of it and see what is kept. "
            ) * 4
            return Reply(
                events=sse_reply(re.findall(r"\S+\s*", words)),
                delay=args.delay,
                first_delay=args.first_delay,
            )
        if args.scenario == "long":
            text = markdown_reply(300)
            return Reply(
                events=sse_reply([text[i : i + 12] for i in range(0, len(text), 12)]),
                delay=args.delay / 10,
                first_delay=args.first_delay,
            )
        if args.scenario == "escapes":
            text = (
                "Title\x1b]0;PWNED\x07 clear\x1b[2J osc52\x1b]52;c;aGk=\x07 "
                "c1\x9b31m red [bold red]markup[/] bell\x07 done\n"
            )
            return Reply(events=sse_reply([text]))
        if args.scenario == "reasoning":  # each of REASONING_SHAPES in turn
            shape = REASONING_SHAPES[(len(server.chat_bodies()) - 1) % len(REASONING_SHAPES)]
            answer = "The sky is **blue** because air scatters short (blue) light the most.\n"
            if not body.get("stream"):
                thought = "".join(thinking_words(3.0, args.delay))
                return Reply(body=reasoning_completion(thought, answer, shape=shape))
            return Reply(
                events=reasoning_reply(
                    thinking_words(3.0, args.delay), re.findall(r"\S+\s*", answer), shape=shape
                ),
                delay=args.delay,
            )
        if args.scenario == "cmd":
            return Reply(events=sse_reply(re.findall(r"\S+\s*", cmd_reply(body))))
        if args.scenario == "echo":
            last = body["messages"][-1]["content"]
            text = f"You said: {last if isinstance(last, str) else json.dumps(last)}"
            return Reply(events=sse_reply(re.findall(r"\S+\s*", text)), delay=args.delay)
        return default_reply(request)

    server.script = scripted
    notes = _apply_by_hand_options(server, args, parser)
    _slow_and_logged(server, args)
    print(
        f"loopback AI/ML API on {server.base_url} (scenario {args.scenario}); Ctrl-C stops",
        flush=True,
    )
    print("\n".join(notes), flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
