"""What a server's "the request is too long" error says: whether it is one, the window it
states and the prompt size it counted. OpenAI, LiteLLM, llama.cpp, vLLM, DeepSeek, Mistral,
Anthropic, Bedrock, Gemini and TGI word it differently.

Its own module, loaded only when a request fails: compiling these patterns is a tenth of
the import time of the context window code, on every start.
"""

from __future__ import annotations

import re

# A retry after trimming cannot help an auth, not-found or rate-limit answer, and a rate
# limit's text talks about tokens too ("tokens per min"), so those statuses never match.
_NOT_CONTEXT_STATUSES = frozenset({401, 403, 404, 429})
_CONTEXT_ERROR = re.compile(
    # codes and class names: OpenAI, LiteLLM, llama.cpp
    r"context_length_exceeded|contextwindowexceeded|exceed_context_size"
    r"|maximum context length"  # OpenAI, vLLM, DeepSeek, Mistral
    r"|context (?:length|window|size|limit)\b[^.]{0,40}exceed"
    r"|exceeds? (?:the )?(?:available |maximum )?context (?:length|window|size|limit)"
    r"|prompt is too long|input is too long"  # Anthropic, Bedrock
    r"|too long and exceeds limit|longer than the maximum model length"  # vLLM
    r"|exceeds the maximum number of tokens"  # Gemini
    r"|max_new_tokens.{0,3} must be <=",  # TGI
    re.IGNORECASE,
)
_N = r"(\d[\d,]*)"
_LIMIT_SHAPES = [
    re.compile(p, re.IGNORECASE)
    for p in (
        rf"maximum context length (?:is |of )?{_N}",
        rf"{_N} maximum context length",
        rf"context size \({_N} tokens\)",
        r"n_ctx\W{1,4}(\d+)",
        rf"tokens > {_N} maximum",
        rf"context limit: \d[\d,]* \+ \d[\d,]* > {_N}",
        rf"maximum number of tokens allowed \({_N}\)",
        rf"must be <= {_N}",
        rf"exceeds limit of {_N}",
        rf"maximum model length of {_N}",
        rf"context (?:window|length) of {_N}",
    )
]
_PROMPT_SHAPES = [
    re.compile(p, re.IGNORECASE)
    for p in (
        rf"\({_N} in the messages",
        rf"messages resulted in {_N} tokens",
        rf"request has {_N} input tokens",
        rf"request \({_N} tokens\)",
        r"n_prompt_tokens\W{1,4}(\d+)",
        rf"prompt is too long: {_N} tokens",
        rf"context limit: {_N} \+",
        rf"prompt contains {_N} tokens",
        rf"input token count \({_N}\)",
        rf"given: {_N} .?inputs",
        rf"input prompt \({_N} tokens\)",
        rf"decoder prompt \(length {_N}\)",
    )
]


def is_context_error(status: int | None, text: str) -> bool:
    """Whether an error (HTTP status, or None inside a stream; body or message) says the
    request was longer than the model's context."""
    return status not in _NOT_CONTEXT_STATUSES and bool(_CONTEXT_ERROR.search(text))


def _first_number(shapes: list[re.Pattern[str]], text: str) -> int | None:
    for shape in shapes:
        if match := shape.search(text):
            value = int(match.group(1).replace(",", ""))
            return value if value > 0 else None
    return None


def limit_from_error(text: str) -> int | None:
    """The context length a context error states (`maximum context length is 8192 tokens`)."""
    return _first_number(_LIMIT_SHAPES, text)


def prompt_tokens_from_error(text: str) -> int | None:
    """The prompt's size as the server counted it, where the error says (`7193 in the messages`)."""
    return _first_number(_PROMPT_SHAPES, text)
