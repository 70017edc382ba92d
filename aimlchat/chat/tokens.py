"""How many tokens a request will be, estimated locally and cheaply (no tokenizer).

Per character class (UTF-8 byte counts in C-level passes: 11-18 ms for 2 MB of text).
Measured against exact tokenizers (cl100k, o200k, Llama-3, Qwen3), estimate / real tokens:
English prose 1.09, markdown 0.89, Python 1.03, C 0.95, Go 1.12, minified JS 1.0, JSON 1.0
pretty and 1.22 compact, /etc/services 0.9-1.0, base64 1.0; German, French, Spanish 0.88-1.02,
Polish, Turkish 0.76-0.92, Russian 0.93-1.28, Japanese, Chinese 0.69-1.29 (cl100k is the low
one); numbers 1.12 but 0.45 on Qwen (a token per digit); emoji chat 0.92-1.33. Median per
tokenizer 0.97-1.02. The server's `usage.prompt_tokens` for this conversation corrects the
rest (ratio smoothed, clamped 0.5-2), and a 10% margin goes on top.
"""

from __future__ import annotations

import json
import math
import string
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from aimlchat.messages import Image, Message, Part, Text, ToolCall, ToolOutput
from aimlchat.record import record

if TYPE_CHECKING:
    from aimlchat.api.adapters import ToolSchema

# Tokens per character, fitted on the samples above and rounded. ASCII letters in words
# (spaces ride along with the next word, nearly free); digits group by three; a newline or tab
# is usually a token of its own; punctuation splits; 2-byte characters (accented Latin,
# Cyrillic, Greek) and 3-byte ones (CJK, kana, Hangul) cost by script; emoji several each.
# Long base64/hex runs tokenize like noise: ~1.4 characters a token.
LETTER, DIGIT, SPACE, BREAK, PUNCT = 0.25, 0.5, 0.02, 1.0, 0.45
TWO_BYTE, THREE_BYTE, FOUR_BYTE, DENSE = 0.4, 0.9, 2.5, 0.72
MESSAGE_OVERHEAD = 5  # Llama's header tokens around each message (OpenAI's template: 3)
REQUEST_OVERHEAD = 5  # begin-of-text and the assistant header that primes the reply
# OpenAI's price of an image part: 85 at low detail; high/auto is 85 + 170 per 512 px tile,
# 1,105 for a 3:2 photo (6 tiles). Unknown size, so every non-low image counts as that.
IMAGE_LOW, IMAGE_HIGH = 85, 1105
SAFETY_MARGIN = 0.10
RATIO_MIN, RATIO_MAX = 0.5, 2.0
SMOOTHING = 0.5
MIN_OBSERVED = 256  # below this a server's fixed template text outweighs the messages

_LETTERS, _DIGITS = string.ascii_letters.encode(), string.digits.encode()
_HIGH = bytes(range(0x80, 0x100))
_LEAD2, _LEAD3, _LEAD4 = (
    bytes(range(0xC0, 0xE0)),
    bytes(range(0xE0, 0xF0)),
    bytes(range(0xF0, 0xF8)),
)
# Long base64/hex runs: the alphabet maps to "a", the rest to " ", and bytes.find looks for
# 32 a's. A regex would restart inside every word (5x slower on prose).
_RUN_MAP = bytes(
    0x61 if chr(b) in string.ascii_letters + string.digits + "+/=" else 0x20 for b in range(256)
)
_RUN = b"a" * 32


def _count(data: bytes, members: bytes) -> int:
    return len(data) - len(data.translate(None, members))


def _without_dense_runs(data: bytes) -> tuple[bytes, int]:
    """`data` less its long base64/hex runs, and their total length."""
    mapped = data.translate(_RUN_MAP)
    kept: list[bytes] = []
    dense = end = 0
    start = mapped.find(_RUN)
    while start != -1:
        stop = mapped.find(b" ", start)
        stop = len(data) if stop == -1 else stop
        kept.append(data[end:start])
        dense, end = dense + stop - start, stop
        start = mapped.find(_RUN, stop)
    return (b"".join([*kept, data[end:]]), dense) if dense else (data, 0)


def text_tokens(text: str) -> float:
    """The raw (uncalibrated) token estimate of a text."""
    data, dense = _without_dense_runs(text.encode("utf-8", "surrogatepass"))
    letters, digits = _count(data, _LETTERS), _count(data, _DIGITS)
    spaces = data.count(b" ") + data.count(b"\r")
    breaks = data.count(b"\n") + data.count(b"\t")
    punct = len(data) - _count(data, _HIGH) - letters - digits - spaces - breaks
    return (
        letters * LETTER + digits * DIGIT + spaces * SPACE + breaks * BREAK + punct * PUNCT
        + _count(data, _LEAD2) * TWO_BYTE + _count(data, _LEAD3) * THREE_BYTE
        + _count(data, _LEAD4) * FOUR_BYTE + dense * DENSE
    )  # fmt: skip


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def part_tokens(part: Part) -> float:
    """Raw estimate of one part as sent. Reasoning and citations are never sent back to
    the model, so they cost nothing in the window."""
    if isinstance(part, Text):
        return text_tokens(part.text)
    if isinstance(part, Image):
        return IMAGE_LOW if part.detail == "low" else IMAGE_HIGH
    if isinstance(part, ToolCall):
        return text_tokens(part.id) + text_tokens(part.name) + text_tokens(part.arguments_text)
    if isinstance(part, ToolOutput):
        return text_tokens(part.call_id) + text_tokens(part.text)
    return 0.0


def message_tokens(message: Message) -> float:
    """Raw estimate of one message as sent: its text, images, tool calls (id, name,
    arguments) and tool outputs, plus the chat template's overhead."""
    return MESSAGE_OVERHEAD + sum(part_tokens(p) for p in message.parts)


def fixed_tokens(system: str | None, tools: Sequence[ToolSchema] | None = None) -> float:
    """Raw estimate of what every request carries: overhead, system prompt, tool schemas."""
    total = float(REQUEST_OVERHEAD)
    if system:
        total += MESSAGE_OVERHEAD + text_tokens(system)
    return total + sum(schema_tokens(t) for t in tools or ())


def schema_tokens(tool: ToolSchema) -> float:
    """Raw estimate of one offered tool: its name, description and JSON Schema."""
    return text_tokens(
        _json({"name": tool.name, "description": tool.description, "parameters": tool.parameters})
    )


def clamp(ratio: float) -> float:
    """A calibration ratio within the bounds anyone should believe."""
    return min(RATIO_MAX, max(RATIO_MIN, ratio))


@record()
class Estimator:
    """Turns raw estimates into tokens: scaled by what the server counted, plus a margin."""

    ratio: float = 1.0
    margin: float = SAFETY_MARGIN
    observations: int = 0

    def tokens(self, raw: float) -> int:
        return math.ceil(raw * self.ratio * (1 + self.margin))

    def observe(self, raw: float, prompt_tokens: int) -> bool:
        """Learn from the server's count of a prompt whose raw estimate was `raw`."""
        if raw < MIN_OBSERVED or prompt_tokens <= 0:
            return False
        self.ratio = clamp(self.ratio + SMOOTHING * (clamp(prompt_tokens / raw) - self.ratio))
        self.observations += 1
        return True


def tokens_text(n: int) -> str:
    """`128k`, `1M`, `96k`, `1.2k`, `850`: a count as a model's card says it, whether it is
    round in thousands (128000, as the catalogue lists most) or in KiB (131072); others
    rounded. The one formatter for `models` and `/context`, so they agree."""
    if n >= 999_500:
        return _scaled(n, 1_000_000, 1 << 20, "M")
    if n >= 1000:
        return _scaled(n, 1000, 1 << 10, "k")
    return str(n)


def _scaled(n: int, decimal: int, binary: int, unit: str) -> str:
    for size in (decimal, binary):  # 128000 is 125 KiB too, but nobody says so
        if n % size == 0:
            return f"{n // size}{unit}"
    if n < 9.95 * decimal:
        return f"{n / decimal:.1f}".removesuffix(".0") + unit
    return f"{round(n / decimal)}{unit}"
