"""The one table of parameters: each fact about a request parameter or setting written once.

The Typer options of `ask`/`chat` (aimlchat.cli.options), their help and checks, `/set`
in the REPL, `[params]` and the top-level keys of config.toml, `-o KEY=VALUE` and the
request body are all generated from `TABLE`, so a value is judged the same way wherever
it comes from. Ranges are those of the published OpenAPI document for
meta-llama/llama-4-scout. Cheap to import (`--help` builds the options from it): nothing
beyond the standard library; Pygments' style list is read only when a theme is named.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Literal

from aimlchat.errors import UsageError
from aimlchat.record import record
from aimlchat.words import did_you_mean, one_of

Kind = Literal["float", "int", "bool", "str", "str_list", "enum"]

DEFAULT_BASE_URL = "https://api.aimlapi.com/v1"
DEFAULT_MODEL = "meta-llama/llama-4-scout"
ENV_BASE_URL = "AIMLCHAT_BASE_URL"
ENV_MODEL = "AIMLCHAT_MODEL"
# Fields the CLI owns; `-o` and `[body]` may not set them behind its back.
RESERVED = frozenset({"messages", "stream"})
# An integer parameter is a signed 64-bit integer on every server we know of, and a
# float past 2**53 no longer says which integer was meant: such a float is refused.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
EXACT_FLOAT = 2**53


def code_themes() -> Iterator[str]:
    """Pygments' style names: imported only when a theme is named, never for --help.

    The built-in names come first, so `name in code_themes()` stops before the slow
    search for plugin styles (~20 ms) unless the name is not a built-in one.
    """
    from pygments.styles import STYLE_MAP, get_all_styles  # type: ignore[import-untyped]

    yield from STYLE_MAP
    yield from get_all_styles()


@record(frozen=True)
class Param:
    name: str  # the body field or setting; also its `/set` name and config key
    kind: Kind
    help: str
    flags: tuple[str, ...] = ()  # default: --name-with-dashes
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # `low` itself is refused (a timeout of 0)
    choices: tuple[str, ...] = ()
    lazy_choices: Callable[[], Iterable[str]] | None = None  # when listing them is costly
    max_items: int | None = None
    requires: str | None = None  # a bool parameter that must be on for this one
    metavar: str | None = None  # the flag's value in --help (default: its type)
    body: bool = True  # sent as a field of the request body
    in_config: bool = True  # settable in config.toml
    env: str | None = None
    default: Any = None
    # Its field in the Responses API's body (api.adapters.responses): None, the same name;
    # a dotted path for a nested field; "" when that API has no such parameter.
    responses: str | None = None
    # An amount in USD: typed as text (`$0.05` as /budget takes it), checked as a number.
    money: bool = False
    off: bool = False  # `off` turns it off for this run (None), over config.toml

    @property
    def option_flags(self) -> tuple[str, ...]:
        return self.flags or ("--" + self.name.replace("_", "-"),)

    @property
    def flag(self) -> str:
        """The long flag, which names the parameter in messages."""
        return next(f for f in self.option_flags if f.startswith("--"))

    @property
    def settable(self) -> bool:
        """Whether `/set NAME` changes it in the REPL: body fields are."""
        return self.body

    @property
    def config_key(self) -> str | None:
        if not self.in_config:
            return None
        return f"params.{self.name}" if self.body else self.name

    def all_choices(self) -> list[str]:
        return list(dict.fromkeys(self.lazy_choices() if self.lazy_choices else self.choices))

    def allows(self, value: str) -> bool:
        return value in (self.lazy_choices() if self.lazy_choices else self.choices)

    def describe(self) -> str:
        """The allowed values, for messages: 'between 0 and 2', 'low, high or auto'."""
        if self.kind == "enum":
            return one_of(self.choices) if self.choices else "a known name"
        whole = "a whole number" if self.kind == "int" else "a number"
        lo, hi = self.low, self.high
        if lo is not None and hi is not None:
            return f"between {_num(lo)} and {_num(hi)}"
        if lo is not None:
            return f"more than {_num(lo)}" if self.low_open else f"at least {_num(lo)}"
        return whole

    def help_text(self) -> str:
        """--help: the help, the range, and where else the value can come from.

        The type and the choices are in the metavar (<int>, low|high|auto).
        """
        text = f"{self.help}."
        if self.kind in ("float", "int") and (self.low is not None or self.high is not None):
            # The range is said here, once: the table's help never states it.
            span = self.describe().replace("between ", "").replace(" and ", " to ")
            if self.help.endswith(")"):  # one parenthesis, not two in a row
                text = f"{self.help[:-1]}; {span})."
            else:
                text = f"{self.help} ({span})."
        extra = [f"env {self.env}"] if self.env else []
        if self.default is not None:
            shown = _num(self.default) if isinstance(self.default, float) else self.default
            extra.append(f"default {shown}")
        return f"{text} [{'; '.join(extra)}]" if extra else text


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _body(name: str, kind: Kind, help: str, **kw: Any) -> Param:
    return Param(name, kind, help, **kw)


def _setting(name: str, kind: Kind, help: str, **kw: Any) -> Param:
    return Param(name, kind, help, body=False, **kw)


TABLE: tuple[Param, ...] = (
    _setting(
        "model", "str", "Model id or alias", flags=("--model", "-m"), env=ENV_MODEL,
        default=DEFAULT_MODEL,
    ),
    _body("temperature", "float", "Sampling temperature", low=0, high=2),
    _body("top_p", "float", "Nucleus sampling", low=0.01, high=1),
    _body("max_tokens", "int", "Reply length limit", low=1, responses="max_output_tokens"),
    _body("max_completion_tokens", "int", "Completion limit, reasoning included", low=1,
          responses="max_output_tokens"),
    _body("reasoning_effort", "enum", "How hard a reasoning model thinks",
          choices=("low", "medium", "high"), responses="reasoning.effort"),
    _body("stop", "str_list", "Stop sequence; repeat for more", max_items=4, responses=""),
    # AIML's document says minimum 1, but 0 is a seed like any other for OpenAI, vLLM and
    # llama.cpp; a server that refuses it says so in its own 400.
    _body("seed", "int", "Seed for repeatable sampling", low=0, responses=""),
    _body("frequency_penalty", "float", "Penalise frequent tokens", low=-2, high=2,
          responses=""),
    _body("presence_penalty", "float", "Penalise tokens already present", low=-2, high=2,
          responses=""),
    # The document types top_k as a number with no range; it counts tokens.
    _body("top_k", "int", "Sample from the K likeliest tokens", responses=""),
    _body("min_p", "float", "Minimum token probability", low=0.001, high=0.999, responses=""),
    _body("repetition_penalty", "float", "Repetition penalty; higher repeats less",
          responses=""),
    _body("n", "int", "Number of replies", flags=("-n", "--n"), low=1, responses=""),
    _body("logprobs", "bool", "Ask for log probabilities", responses=""),
    _body("top_logprobs", "int", "Likeliest tokens per position", low=0, high=20,
          requires="logprobs", responses=""),
    _setting("format", "enum", "Reply format: json asks for a JSON object",
             choices=("json", "text"), in_config=False),
    _setting("image_detail", "enum", "Detail for attached images",
             choices=("low", "high", "auto"), in_config=False),
    # Per model in config.toml: [models."NAME"] api = "responses" (api.route).
    _setting("api", "enum", "The API to ask: chat (Chat Completions) or responses "
             "(default: chosen per model, learned from the server)",
             choices=("chat", "responses"), in_config=False),
    # Not a body field as such: each API asks for a search its own way (ChatRequest.web_search).
    # "off" overrides config.toml's size for one run (resolve makes it None).
    _setting("web_search", "enum", "Let a search-capable model search the web, reading "
             "this much of what it finds; its sources are listed under the reply (off: "
             "no search, whatever config.toml says)",
             choices=("low", "medium", "high", "off")),
    _setting("code_theme", "enum", "Pygments theme for code blocks", lazy_choices=code_themes,
             default="monokai"),
    _setting("base_url", "str", "API base URL", env=ENV_BASE_URL, default=DEFAULT_BASE_URL),
    # Three waits, so that a slow paid reply is never mistaken for a dead connection.
    _setting("connect_timeout", "float", "Seconds to wait for the connection", low=0,
             low_open=True, default=10.0),
    _setting("timeout", "float", "Seconds to wait for the answer to begin once the request "
             "is sent (a timeout then is not retried: the request may be billed)", low=0,
             low_open=True, default=60.0),
    _setting("idle_timeout", "float", "Seconds of silence allowed once the answer has begun "
             "(default: --timeout)", low=0, low_open=True),
    _setting("retries", "int", "Retries on 408/409/429/5xx and failed connections", low=0,
             high=10, default=2),
    # Per model in config.toml: [models."NAME"] context_length = N.
    _setting("context_length", "int", "The model's context window in tokens (overrides the "
             "catalogue)", low=1, in_config=False),
    _setting("max_steps", "int", "Tool-call rounds allowed in one turn", low=1, default=8),
    # Budgets (chat.budget): checked before each request; one in flight is never cut.
    _setting("max_cost", "float", "Send no more requests once this many US dollars are "
             "spent: an ask with its tool steps, or a chat session", low=0, low_open=True,
             in_config=False, metavar="USD", money=True),
    _setting("max_cost_per_day", "float", "Send no new requests once today's spend in US "
             "dollars, since local midnight as history recorded it, reaches this; the flag "
             "overrides config.toml for one run (off: no daily limit)", low=0, low_open=True,
             metavar="USD", money=True, off=True),
)  # fmt: skip
BY_NAME: Mapping[str, Param] = {p.name: p for p in TABLE}
BODY: tuple[Param, ...] = tuple(p for p in TABLE if p.body)


def canonical(name: str) -> str:
    return name.strip().lstrip("-").replace("-", "_").lower()


def flag(name: str) -> str:
    return BY_NAME[name].flag if name in BY_NAME else "--" + name.replace("_", "-")


def closest(word: str, known: Iterable[str]) -> str | None:
    """The nearest known name, for 'did you mean' (typos in config keys, themes, /set)."""
    import difflib

    near = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return near[0] if near else None


def find(name: str, *, settable_only: bool = False) -> Param:
    """The parameter called `name` (any spelling: --top-p, top-p, top_p), or a UsageError."""
    key = canonical(name)
    param = BY_NAME.get(key)
    if param is None or (settable_only and not param.settable):
        names = [p.name for p in TABLE if p.settable or not settable_only]
        raise UsageError(
            f"unknown parameter {name!r}",
            hint=did_you_mean(key, names) or f"known: {', '.join(names)}",
        )
    return param


# -- checking a value that arrives typed (flag, config.toml, -o JSON) ---------------------


def check(name: str, value: Any, *, source: str | None = None) -> Any:
    """Return `value` as the parameter's type, or raise UsageError naming what is allowed."""
    param = BY_NAME[name]
    label = source or param.flag
    if param.kind == "bool":
        if isinstance(value, bool):
            return value
        raise UsageError(f"{label} must be true or false (got {value!r})")
    if param.kind in ("str", "enum"):
        if not isinstance(value, str) or not value.strip():
            raise UsageError(f"{label} must be a non-empty string (got {value!r})")
        return _check_choice(param, value, label) if param.kind == "enum" else value
    if param.kind == "str_list":
        return _check_list(param, value, label)
    if param.money and isinstance(value, str):
        amount = money(value, label, off=param.off)
        if amount is None:
            return None
        value = amount
    return _check_number(param, value, label)


_THOUSANDS = re.compile(r"\d{1,3}(,\d{3})+(\.\d*)?")


def money(text: str, label: str, *, off: bool = False) -> float | None:
    """An amount in US dollars as people type it: `0.05`, `$0.05`, `$1,000`; None for
    `off` where `off` is allowed. Range and finiteness are the caller's to check."""
    raw = text.strip()
    if off and raw.lower() == "off":
        return None
    number = raw.removeprefix("$").strip()
    # A comma only as a thousands separator ($1,000.50): "0,05" is a decimal comma, and
    # dropping it would make a budget a hundred times larger than meant.
    if "," in number and not _THOUSANDS.fullmatch(number):
        number = "not a number"
    try:
        amount = float(number.replace(",", ""))
    except ValueError:
        also = " or off" if off else ""
        raise UsageError(
            f"{label} takes an amount in US dollars, such as 0.05 or $0.05{also} (got {text!r})"
        ) from None
    if 0 < amount < 0.000001:  # budgets count whole micro-dollars (aimlchat.money)
        raise UsageError(f"{label} must be at least $0.000001 (got {text!r})")
    return amount


def _check_number(param: Param, value: Any, label: str) -> float | int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        what = "a whole number" if param.kind == "int" else "a number"
        raise UsageError(f"{label} must be {what} (got {value!r})")
    if isinstance(value, float) and not math.isfinite(value):
        raise UsageError(f"{label} must be a finite number (got {value})")
    number: float | int
    if param.kind == "int":
        number = _whole(param, value, label)
    else:
        try:
            number = float(value)
        except OverflowError:  # an int too large for a float (-o temperature=1e999 as JSON)
            raise UsageError(f"{label} must be a finite number (got {value})") from None
    lo, hi = param.low, param.high
    too_low = lo is not None and (number <= lo if param.low_open else number < lo)
    if too_low or (hi is not None and number > hi):
        raise UsageError(f"{label} must be {param.describe()} (got {_num(number)})")
    return number


def _whole(param: Param, value: int | float, label: str) -> int:
    """An integer as it came, never through a float (2**63 - 1 stays 2**63 - 1)."""
    if isinstance(value, float):
        # TOML's `100.0` and JSON's `1e2` are whole; past 2**53 a float is not exact.
        if not value.is_integer() or abs(value) > EXACT_FLOAT:
            raise UsageError(f"{label} must be a whole number (got {value})")
        value = int(value)
    if not INT64_MIN <= value <= INT64_MAX:
        lo = INT64_MIN if param.low is None else param.low
        hi = INT64_MAX if param.high is None else param.high
        raise UsageError(
            f"{label} must be between {_num(lo)} and {_num(hi)}, a 64-bit integer (got {value})"
        )
    return value


def _check_choice(param: Param, value: str, label: str) -> str:
    if param.allows(value):
        return value
    known = param.all_choices()
    if param.choices:
        raise UsageError(
            f"{label} must be {param.describe()} (got {value!r})", hint=did_you_mean(value, known)
        )
    raise UsageError(
        f"{label}: unknown {param.name.replace('_', ' ')} {value!r}",
        hint=did_you_mean(value, known) or f"known: {', '.join(known)}",
    )


def _check_list(param: Param, value: Any, label: str) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(s, str) for s in items):
        raise UsageError(f"{label} must be a string or a list of strings (got {value!r})")
    if param.max_items is not None and len(items) > param.max_items:
        raise UsageError(f"{label} takes at most {param.max_items} sequences (got {len(items)})")
    if any(s == "" for s in items):
        raise UsageError(f"{label} sequences must not be empty")
    return list(items)


def check_together(values: Mapping[str, Any], label: Callable[[str], str] = flag) -> None:
    """Rules across parameters: `top_logprobs` is refused unless `logprobs` is on."""
    for param in BODY:
        on = param.requires and values.get(param.requires) is True
        if param.requires and values.get(param.name) is not None and not on:
            raise UsageError(
                f"{label(param.name)} needs {label(param.requires)}",
                hint=f"the API returns {param.name} only with {param.requires} on",
            )


def body_field(key: str, value: Any, *, source: str) -> tuple[str, Any]:
    """A field for the body from `-o` or `[body]`: known names are checked, others passed."""
    if key in RESERVED:
        raise UsageError(f"{source} cannot set {key!r}; aimlchat builds it")
    name = canonical(key)
    param = BY_NAME.get(name)
    if param is not None and param.body:
        return name, check(name, value, source=source)
    return key, value


def settable_names() -> list[str]:
    return [p.name for p in TABLE if p.settable]


def settable_choices() -> dict[str, tuple[str, ...]]:
    """`/set` names with the values Tab offers after them (enum choices, true/false)."""
    return {
        p.name: ("true", "false") if p.kind == "bool" else p.choices for p in TABLE if p.settable
    }
