"""Sampling parameters: names, types and documented ranges, checked before any request.

The CLI flags, `/set` in the REPL, `[params]` in config.toml and `-o KEY=VALUE` all
go through `check`, so a value is judged the same way wherever it comes from.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from aimlchat.errors import UsageError


@dataclass(frozen=True)
class Spec:
    kind: type  # float, int or bool
    low: float | None = None
    high: float | None = None

    def describe(self) -> str:
        if self.low is not None and self.high is not None:
            return f"between {_num(self.low)} and {_num(self.high)}"
        if self.low is not None:
            return f"at least {_num(self.low)}"
        return "a number"


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


# From the published OpenAPI document for meta-llama/llama-4-scout.
SPECS: dict[str, Spec] = {
    "temperature": Spec(float, 0, 2),
    "top_p": Spec(float, 0.01, 1),
    "max_tokens": Spec(int, 1),
    "max_completion_tokens": Spec(int, 1),
    "n": Spec(int, 1),
    "seed": Spec(int, 1),
    "frequency_penalty": Spec(float, -2, 2),
    "presence_penalty": Spec(float, -2, 2),
    "top_k": Spec(float),
    "min_p": Spec(float, 0.001, 0.999),
    "repetition_penalty": Spec(float),
    "logprobs": Spec(bool),
    "top_logprobs": Spec(int, 0, 20),
}
MAX_STOP = 4
# Fields the CLI owns; `-o` may not set them behind its back.
RESERVED = {"messages", "stream"}


def canonical(name: str) -> str:
    return name.strip().lstrip("-").replace("-", "_").lower()


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def check(name: str, value: Any, *, source: str | None = None) -> Any:
    """Return `value` coerced to the parameter's type, or raise UsageError naming the range."""
    spec = SPECS[name]
    label = source or flag(name)
    if spec.kind is bool:
        if isinstance(value, bool):
            return value
        raise UsageError(f"{label} must be true or false (got {value!r})")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UsageError(f"{label} must be a number (got {value!r})")
    if not math.isfinite(value):
        raise UsageError(f"{label} must be a finite number (got {value})")
    if spec.kind is int:
        if float(value) != int(value):
            raise UsageError(f"{label} must be a whole number (got {value})")
        value = int(value)
    elif float(value).is_integer() and name in ("top_k",):
        value = int(value)
    if (spec.low is not None and value < spec.low) or (spec.high is not None and value > spec.high):
        raise UsageError(f"{label} must be {spec.describe()} (got {_num(value)})")
    return value


def parse_text(name: str, text: str, *, source: str | None = None) -> Any:
    """Parse a value typed by a person (`/set temperature 0.2`) and check it."""
    name = canonical(name)
    if name == "stop":
        return check_stop([text], source=source)
    if name not in SPECS:
        known = ", ".join(sorted([*SPECS, "stop"]))
        raise UsageError(f"unknown parameter {name!r}", hint=f"known: {known}")
    spec = SPECS[name]
    raw = text.strip()
    if spec.kind is bool:
        lowered = raw.lower()
        if lowered in ("true", "on", "yes", "1"):
            return True
        if lowered in ("false", "off", "no", "0"):
            return False
        return check(name, raw, source=source)
    try:
        number: float = float(raw)
    except ValueError:
        return check(name, raw, source=source)
    return check(name, number, source=source)


def check_stop(stops: list[str], *, source: str | None = None) -> list[str]:
    if len(stops) > MAX_STOP:
        label = source or "--stop"
        raise UsageError(f"{label} takes at most {MAX_STOP} sequences (got {len(stops)})")
    if any(s == "" for s in stops):
        raise UsageError(f"{source or '--stop'} sequences must not be empty")
    return stops


def parse_option(item: str) -> tuple[str, Any]:
    """`-o KEY=VALUE`: VALUE is JSON when it parses as JSON, else a plain string.

    A VALUE that starts like a JSON object or array but does not parse is a mistake,
    not a string the user meant to send, so it is refused.
    """
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise UsageError(f"-o expects KEY=VALUE (got {item!r})")
    if key in RESERVED:
        raise UsageError(f"-o cannot set {key!r}; aimlchat builds it")
    try:
        value: Any = json.loads(raw)
    except ValueError as exc:
        if raw.lstrip()[:1] in ("{", "["):
            raise UsageError(f"-o {key}: invalid JSON: {exc}") from None
        value = raw
    name = canonical(key)
    if name in SPECS:
        return name, check(name, value, source=f"-o {key}")
    if name == "stop":
        stops = [value] if isinstance(value, str) else value
        if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
            raise UsageError("-o stop must be a string or a list of strings")
        return name, check_stop(stops, source="-o stop")
    return key, value
