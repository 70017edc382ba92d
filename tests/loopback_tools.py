"""The loopback server's tool-call and context-window script: streamed `tool_calls`
(arguments one character per chunk, several calls in one turn), the context-length error
bodies servers send, and a small-window model for the catalogue.

Used by the tests and by `python tests/loopback.py --scenario tools|smallctx`.
"""

from __future__ import annotations

import json
import re
from typing import Any

from tests.loopback import (
    MODELS,
    Reply,
    chunk,
    is_responses,
    responses_body,
    responses_stream,
    sse_reply,
)

Call = tuple[str, str, str]  # (id, name, arguments as JSON text)


def _tool_chunk(item: dict[str, Any], index: int = 0) -> str:
    obj = {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "meta-llama/llama-4-scout",
        "choices": [{"index": index, "delta": {"tool_calls": [item]}, "finish_reason": None}],
    }
    return f"data: {json.dumps(obj)}\n\n"


def tool_call_events(
    calls: list[Call], *, text: str = "", per_chunk: int = 1, indexed: bool = True
) -> list[str]:
    """SSE events of a reply asking for `calls`, as OpenAI streams them: optional text, then
    per call a first chunk with its id and name, then its arguments `per_chunk` characters
    at a time; then finish_reason `tool_calls`, the usage and [DONE]. Not `indexed`: no
    piece carries an `index`, as Gemini's OpenAI-compatible endpoint streams them."""
    events = [chunk(text)] if text else []
    for n, (call_id, name, arguments) in enumerate(calls):
        at = {"index": n} if indexed else {}
        first = {**at, "id": call_id, "type": "function"}
        events.append(_tool_chunk({**first, "function": {"name": name, "arguments": ""}}))
        for i in range(0, len(arguments), per_chunk):
            piece = arguments[i : i + per_chunk]
            events.append(_tool_chunk({**at, "function": {"arguments": piece}}))
    events.append(chunk(finish="tool_calls"))
    usage = {"prompt_tokens": 50, "completion_tokens": 20, "total_tokens": 70}
    events.append(chunk(empty_choices=True, usage=usage))
    events.append("data: [DONE]\n\n")
    return events


def tool_reply(*calls: Call, text: str = "", per_chunk: int = 1, indexed: bool = True) -> Reply:
    events = tool_call_events(list(calls), text=text, per_chunk=per_chunk, indexed=indexed)
    return Reply(events=events)


def text_reply(text: str, *, prompt_tokens: int = 10) -> Reply:
    """A plain streamed reply whose usage reports `prompt_tokens` (to calibrate on)."""
    events = sse_reply(re.findall(r"\S+\s*", text) or [text], usage=False)
    usage = {"prompt_tokens": prompt_tokens, "completion_tokens": 5, "total_tokens": prompt_tokens}
    events.insert(-1, chunk(empty_choices=True, usage=usage))
    return Reply(events=events)


# -- the context window ------------------------------------------------------------------

SMALL_MODEL_ID = "tiny/small-window"
SMALL_WINDOW = 2048
SMALL_MODEL: dict[str, Any] = {
    "id": SMALL_MODEL_ID,
    "type": "openai/chat-completions",
    "aliases": ["small-window"],
    "tags": [],
    "info": {
        "name": "A small-window model",
        "developer": "Test",
        "contextLength": SMALL_WINDOW,
        "outputMax": 256,
    },
    "modalities": {"input": ["text"], "output": ["text"]},
}
MODELS_WITH_SMALL = {**MODELS, "data": [*MODELS["data"], SMALL_MODEL]}

# The bodies servers answer with when a request is longer than the model's context.
CONTEXT_ERRORS: dict[str, dict[str, Any]] = {
    "openai": {
        "error": {
            "message": "This model's maximum context length is 2048 tokens. However, your "
            "messages resulted in 2790 tokens. Please reduce the length of the messages.",
            "type": "invalid_request_error",
            "param": "messages",
            "code": "context_length_exceeded",
        }
    },
    # Only the code says what it is.
    "openai-code": {
        "error": {"message": "Request too large.", "type": None, "code": "context_length_exceeded"}
    },
    "aiml": {
        "statusCode": 400,
        "message": "Context length exceeded",
        "error": "Bad Request",
        "requestId": "req-ctx-1",
    },
    "litellm": {
        "error": {
            "message": "litellm.ContextWindowExceededError: litellm.BadRequestError: "
            "ContextWindowExceededError: Context window exceeded",
            "type": None,
            "param": None,
            "code": "400",
        }
    },
}


def context_error(shape: str) -> Reply:
    return Reply(status=400, body=CONTEXT_ERRORS[shape])


# -- scripted conversations for trying the CLI by hand -------------------------------------


TOOL_ARGS = {"weather": {"city": "Paris"}, "read_file": {"path": "README.md"}}
NO_TOOLS = "No tools were offered; try -T read_file or /tools read_file."


def _said(outputs: list[Any]) -> str:
    quoted = "\n\n".join(f"> {str(text)[:300]}" for text in outputs[-2:])
    return f"The tools said:\n\n{quoted}\n\nThat is all I needed."


_SAMPLES = {"string": "hello", "integer": 2, "number": 2.5, "boolean": True}


def _sample_args(schema: dict[str, Any]) -> dict[str, Any]:
    """Arguments for any tool (an MCP server's) from its schema: each required property
    gets a sample of its type, so `--scenario tools` calls whatever is offered."""
    props = schema.get("properties") or {}
    wanted = schema.get("required") or []
    kinds = {name: str((props.get(name) or {}).get("type")) for name in wanted}
    return {name: _SAMPLES.get(kind, "hello") for name, kind in kinds.items()}


def _calls(names: list[str], schemas: dict[str, dict[str, Any]] | None = None) -> list[Call]:
    def args(name: str) -> dict[str, Any]:
        if name in TOOL_ARGS:
            return TOOL_ARGS[name]
        schema = (schemas or {}).get(name)
        return _sample_args(schema) if schema and schema.get("required") else {"path": "."}

    return [(f"call_{n}", name, json.dumps(args(name))) for n, name in enumerate(names[:2])]


def tools_script(request: dict[str, Any]) -> Reply:
    """`--scenario tools`: with tools offered, a message asks for one call per offered
    tool (two at most, arguments streamed a character at a time); their results come
    back quoted. `weather` gets {"city": "Paris"}; read_file reads README.md. On
    /responses, the same in that API's shape."""
    if is_responses(request):
        return _responses_tools(request)
    body = request.get("json") or {}
    last = body["messages"][-1]
    if last["role"] == "tool":
        return text_reply(_said([m["content"] for m in body["messages"] if m["role"] == "tool"]))
    offered = [t["function"] for t in body.get("tools") or []]
    names = [f["name"] for f in offered]
    if not names:
        return text_reply(NO_TOOLS)
    schemas = {f["name"]: f.get("parameters") or {} for f in offered}
    calls = _calls(names, schemas)
    return Reply(events=tool_call_events(calls, text="Let me look that up."), delay=0.01)


def _responses_tools(request: dict[str, Any]) -> Reply:
    """The tools scenario over /responses: function_call items, then, once their
    function_call_output items come back, the answer quoting them."""
    body = request.get("json") or {}
    items = [i for i in body.get("input") or [] if isinstance(i, dict)]
    stream = bool(body.get("stream"))
    calls: list[Call] = []
    if items and items[-1].get("type") == "function_call_output":
        text = _said([i.get("output") for i in items if i.get("type") == "function_call_output"])
    else:
        tools = [t for t in body.get("tools") or [] if t.get("type") == "function"]
        calls = _calls([str(t.get("name")) for t in tools])
        text = "Let me look that up." if calls else NO_TOOLS
    if not stream:
        return Reply(body=responses_body(text, calls=calls))
    pieces = re.findall(r"\S+\s*", text)
    return Reply(events=responses_stream(pieces, calls=calls), delay=0.01)


def smallctx_script(request: dict[str, Any]) -> Reply:
    """`--scenario smallctx`: answers at length and counts the prompt as a real server
    would (about 4 characters a token); a request over the small window gets the
    OpenAI-shaped context error."""
    body = request.get("json") or {}
    sent = sum(len(json.dumps(m)) for m in body.get("messages", []))
    prompt = sent // 4
    if body.get("model") in (SMALL_MODEL_ID, "small-window") and prompt > SMALL_WINDOW:
        return context_error("openai")
    words = "This answer is long on purpose, so that the window fills after a few turns. " * 6
    return text_reply(words.strip(), prompt_tokens=prompt)
