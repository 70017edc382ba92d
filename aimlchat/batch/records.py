"""Batch input: one item per line, read as a stream, never loaded whole.

A line is a JSON object (`{"id", "prompt", "system", "model", "params", "files"}`, only
`prompt` required) or, when it does not start with `{`, a plain prompt. A line that starts with
`{` but does not parse is a broken record, not a prompt: sending it would waste a request
on garbage, so it stops the batch (exit 2) naming the line. Blank lines are skipped but
keep their number, so a default id is what `sed -n Np` shows. A UTF-8 BOM before the
first line (Notepad's "UTF-8") is dropped. A record's `params` take the parameters
config's [params] knows (and `response_format`); other keys are warned about, as config
does, and not sent: batch's `-O KEY=VALUE` sends any field.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Container, Iterable, Iterator
from dataclasses import field
from typing import Any

from aimlchat.errors import UsageError
from aimlchat.record import record
from aimlchat.settings import params as param_specs

RESERVED_PARAMS = frozenset({"messages", "stream", "model", "stream_options"})
KNOWN_PARAMS = (*(p.name for p in param_specs.BODY), "response_format")
BOM = b"\xef\xbb\xbf"

Unknown = Callable[[str, int], None]  # an unknown key in params, on input line N


class UnknownParams:
    """Warns once per unknown key in records' params, with the nearest known key, however
    many records (and passes over IN) have it."""

    def __init__(self, warn: Callable[[str], None]) -> None:
        self._warn = warn
        self._seen: set[str] = set()

    def __call__(self, key: str, number: int) -> None:
        if key in self._seen:
            return
        self._seen.add(key)
        near = param_specs.closest(key, KNOWN_PARAMS)
        tail = f" (did you mean {near!r}?)" if near else ""
        self._warn(
            f"input line {number}: unknown key {key!r} in params{tail}; not sent "
            "(-O KEY=VALUE sends any field)"
        )


@record(frozen=True)
class Record:
    line: int  # 1-based line number in IN
    id: str | int  # as given, or the line number
    prompt: str
    system: str | None = None  # None: the default; "": explicitly none
    model: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    files: tuple[str, ...] = ()  # -f specs, collected when the item is sent

    @property
    def key(self) -> str:
        return id_key(self.id)


def id_key(value: Any) -> str:
    """The id as compared: 5 and "5" are the same item (a typed id would be a trap)."""
    return value if isinstance(value, str) else str(value)


def valid_id(value: Any) -> bool:
    return (isinstance(value, str) and value != "") or (
        isinstance(value, int) and not isinstance(value, bool)
    )


@record(frozen=True)
class Shard:
    """`--shard K/N`: this process takes the items whose id hashes to K (1-based) of N."""

    index: int = 1
    count: int = 1

    @classmethod
    def parse(cls, text: str | None) -> Shard:
        if not text:
            return cls()
        k, sep, n = text.partition("/")
        try:
            index, count = int(k), int(n)
        except ValueError:
            index = count = 0
        if not sep or count < 1 or not 1 <= index <= count:
            raise UsageError(f"--shard expects K/N with 1 ≤ K ≤ N (got {text!r})")
        return cls(index, count)

    def selects(self, key: str) -> bool:
        if self.count == 1:
            return True
        # A hash every machine and Python version agrees on (str hash() is salted).
        digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest()
        return int.from_bytes(digest, "big") % self.count == self.index - 1


def _bad(number: int, text: str, hint: str | None = None) -> UsageError:
    return UsageError(f"input line {number}: {text}", hint=hint)


def _params(value: Any, number: int, unknown: Unknown | None) -> dict[str, Any]:
    """A record's body fields, judged as `-o KEY=VALUE` would be; unknown keys left out."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _bad(number, '"params" must be a JSON object')
    checked: dict[str, Any] = {}
    for key, item in value.items():
        if key in RESERVED_PARAMS:
            raise _bad(number, f"params cannot set {key!r}; use the record's own fields")
        if param_specs.canonical(key) not in KNOWN_PARAMS:
            if unknown is not None:
                unknown(key, number)
            continue
        name, checked_value = param_specs.body_field(
            key, item, source=f"input line {number}: params.{key}"
        )
        checked[name] = checked_value
    return checked


def _optional_text(obj: dict[str, Any], name: str, number: int) -> str | None:
    value = obj.get(name)
    if value is not None and not isinstance(value, str):
        raise _bad(number, f'"{name}" must be a string')
    return value


def _files(value: Any, number: int) -> tuple[str, ...]:
    """A record's `-f` specs: only their shape is checked here; the files themselves are
    read when the item is sent, so a missing one is that item's error, not the batch's."""
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _bad(number, '"files" must be a list of non-empty strings (paths, globs, URLs)')
    if "-" in value:
        raise _bad(number, '"files" cannot name stdin (-); name a file instead')
    return tuple(value)


def from_object(obj: Any, number: int, unknown: Unknown | None = None) -> Record:
    if not isinstance(obj, dict):
        raise _bad(number, "a line starting with { must be a JSON object")
    prompt = obj.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise _bad(number, 'a JSON record needs a non-empty "prompt" string')
    rid = obj.get("id", number)
    if not valid_id(rid):
        raise _bad(number, '"id" must be a non-empty string or a whole number')
    model = _optional_text(obj, "model", number)
    if model is not None:
        model = model.strip()  # as -m is read: " gpt-4" names gpt-4 (and its retirement)
        if not model:
            raise _bad(number, '"model" must not be empty')
    return Record(
        line=number,
        id=rid,
        prompt=prompt,
        system=_optional_text(obj, "system", number),
        model=model,
        params=_params(obj.get("params"), number, unknown),
        files=_files(obj.get("files"), number),
    )


def parse_line(raw: bytes, number: int, unknown: Unknown | None = None) -> Record | None:
    """The record on one line of IN, or None for a blank line."""
    if number == 1:
        raw = raw.removeprefix(BOM)
    try:
        text = raw.decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        raise _bad(number, f"not valid UTF-8 (byte 0x{raw[exc.start]:02x})") from None
    if not text:
        return None
    if not text.startswith("{"):
        return Record(line=number, id=number, prompt=text)
    try:
        obj = json.loads(text)
    except ValueError as exc:
        raise _bad(
            number, f"invalid JSON ({exc})", "a plain-text prompt cannot start with {"
        ) from None
    return from_object(obj, number, unknown)


class Reader:
    """Records of IN that this run should ask: in this shard, not already in OUT."""

    def __init__(
        self,
        shard: Shard,
        done: Container[str],
        *,
        check_duplicates: bool,
        failed: Container[str] = frozenset(),
        unknown: Unknown | None = None,
    ) -> None:
        self.shard = shard
        self.unknown = unknown
        self.done = done
        self.failed = failed  # of `done`, those OUT holds as errors
        self.check_duplicates = check_duplicates
        self.skipped = 0  # already in OUT
        self.skipped_errors = 0  # already in OUT, as an error

    def records(self, lines: Iterable[bytes]) -> Iterator[Record]:
        # Memory: a set of the ids seen (to refuse duplicates) is O(ids), not O(items).
        seen: set[str] | None = set() if self.check_duplicates else None
        for number, raw in enumerate(lines, start=1):
            record = parse_line(raw, number, self.unknown)
            if record is None:
                continue
            key = record.key
            if not self.shard.selects(key):
                continue
            if seen is not None:
                if key in seen:
                    raise _bad(
                        number,
                        f"duplicate id {key!r}",
                        "each item needs its own id, or none (the line number is used)",
                    )
                seen.add(key)
            if key in self.done:
                self.skipped += 1
                self.skipped_errors += key in self.failed
                continue
            yield record


def count(reader: Reader, lines: Iterable[bytes]) -> int:
    """How many items a run will ask; also checks every line before any request."""
    return sum(1 for _ in reader.records(lines))
