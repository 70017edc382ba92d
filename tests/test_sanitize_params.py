from __future__ import annotations

import pytest

from aimlchat.errors import UsageError
from aimlchat.settings import params, parse
from aimlchat.terminal.sanitize import terminal_safe


@pytest.mark.parametrize(
    "raw, shown",
    [
        ("\x1b]0;title\x07", "^[]0;title^G"),
        ("\x1b[2J", "^[[2J"),
        ("\x9b31m", "<U+009B>31m"),
        ("\x1bP1$qm\x1b\\", "^[P1$qm^[\\"),
        ("a\tb\nc", "a\tb\nc"),
        ("\u202eevil", "<U+202E>evil"),
    ],
)
def test_terminal_safe_shows_controls_visibly(raw, shown):
    assert terminal_safe(raw) == shown


def test_range_errors_name_the_range():
    with pytest.raises(UsageError, match="between 0 and 2"):
        params.check("temperature", 3)
    with pytest.raises(UsageError, match="at least 1"):
        params.check("max_tokens", 0)
    with pytest.raises(UsageError, match=r"between 0\.001 and 0\.999"):
        params.check("min_p", 1)


def test_option_values_are_json_when_they_parse():
    assert parse.parse_option('logit_bias={"50256": -100}') == ("logit_bias", {"50256": -100})
    assert parse.parse_option("user=alice") == ("user", "alice")
    assert parse.parse_option("temperature=0.5") == ("temperature", 0.5)


def test_option_that_looks_like_json_but_is_not_is_refused():
    with pytest.raises(UsageError, match="invalid JSON"):
        parse.parse_option("response_format={type: json}")
    with pytest.raises(UsageError):
        parse.parse_option("novalue")


def test_stop_takes_at_most_four():
    with pytest.raises(UsageError, match="at most 4"):
        params.check("stop", ["a", "b", "c", "d", "e"])


def test_set_parses_typed_text():
    assert parse.parse_text("temperature", "0.2") == 0.2
    assert parse.parse_text("--max-tokens", "100") == 100
    assert parse.parse_text("logprobs", "on") is True
    with pytest.raises(UsageError):
        parse.parse_text("max_tokens", "1.5")
