"""Messages and request bodies: the one place a chat-completion body is built."""

from __future__ import annotations

from typing import Any

from aimlchat.errors import UsageError

Message = dict[str, Any]
STDIN_PLACEHOLDER = "{stdin}"


def compose_prompt(prompt: str, stdin_text: str | None) -> str:
    """The user message: stdin, a blank line, then the prompt; or stdin at `{stdin}`.

    `stdin_text` is None when there is no stdin to read (a terminal, `--no-stdin`) or
    it was empty; a `{stdin}` with nothing to put there is a mistake, not a literal.
    """
    if stdin_text is None:
        if STDIN_PLACEHOLDER in prompt:
            raise UsageError(
                "the prompt has {stdin} but there is no stdin",
                hint='pipe something in, e.g. aimlchat ask "fix {stdin}" < file.txt',
            )
        text = prompt
    elif STDIN_PLACEHOLDER in prompt:
        # One trailing newline ends the piped file; inside a sentence it is noise.
        spliced = stdin_text[:-1] if stdin_text.endswith("\n") else stdin_text
        text = prompt.replace(STDIN_PLACEHOLDER, spliced)
    elif prompt:
        text = f"{stdin_text.rstrip(chr(10))}\n\n{prompt}"
    else:
        text = stdin_text
    if not text.strip():
        raise UsageError("empty message", hint='give a prompt, e.g. aimlchat ask "Hello"')
    return text


def user_message(text: str, images: list[dict[str, Any]] | None = None) -> Message:
    if not images:
        return {"role": "user", "content": text}
    parts: list[dict[str, Any]] = [{"type": "text", "text": text}]
    parts.extend(images)
    return {"role": "user", "content": parts}


def text_of(content: Any) -> str:
    """The readable text of a message's content (parts become text plus image markers)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        out = []
        for part in content:
            if isinstance(part, dict) and part.get("type") == "text":
                out.append(str(part.get("text", "")))
            elif isinstance(part, dict) and part.get("type") == "image_url":
                url = str((part.get("image_url") or {}).get("url", ""))
                out.append("[image: data URL]" if url.startswith("data:") else f"[image: {url}]")
        return "\n".join(out)
    return "" if content is None else str(content)


def build_body(
    *,
    model: str,
    messages: list[Message],
    params: dict[str, Any],
    stream: bool,
    system: str | None = None,
    response_format: dict[str, Any] | None = None,
    tools: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model}
    msgs = list(messages)
    if system:
        msgs.insert(0, {"role": "system", "content": system})
    body["messages"] = msgs
    for key, value in params.items():
        if value is not None:
            body[key] = value
    if response_format is not None:
        body["response_format"] = response_format
    if tools:  # only offered tools; an empty array is refused by some servers
        body["tools"] = tools
    body["stream"] = stream
    if stream:
        # Usage arrives as a last chunk with empty choices; needed for --usage and cost.
        body["stream_options"] = {"include_usage": True}
    else:
        body.pop("stream_options", None)
    return body
