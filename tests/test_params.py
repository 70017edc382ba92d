"""The parameter table: types, ranges, choices and `/set`, checked without a server."""

from __future__ import annotations

import json

import pytest

from aimlchat.errors import UsageError
from aimlchat.record import field_names
from aimlchat.settings import params, parse
from aimlchat.settings.resolve import Flags, Settings

# The published OpenAPI document for meta-llama/llama-4-scout: (type, minimum, maximum).
# It types max_tokens, top_logprobs and top_k as "number", yet they count tokens
# (top_logprobs: "an integer between 0 and 20"), so the table makes them integers.
DOCUMENTED = {
    "temperature": ("float", 0, 2),
    "top_p": ("float", 0.01, 1),
    "max_tokens": ("int", 1, None),
    "max_completion_tokens": ("int", 1, None),
    "n": ("int", 1, None),
    "seed": ("int", 0, None),  # the document says 1; 0 is valid on OpenAI-compatible servers
    "frequency_penalty": ("float", -2, 2),
    "presence_penalty": ("float", -2, 2),
    "top_k": ("int", None, None),
    "min_p": ("float", 0.001, 0.999),
    "repetition_penalty": ("float", None, None),
    "logprobs": ("bool", None, None),
    "top_logprobs": ("int", 0, 20),
    "stop": ("str_list", None, None),
    # Not in Llama's document: OpenAI's field for reasoning models (o-series, DeepSeek, Qwen).
    "reasoning_effort": ("enum", None, None),
}


def test_every_body_parameter_has_the_documented_type_and_range():
    table = {p.name: (p.kind, p.low, p.high) for p in params.BODY}
    assert table == DOCUMENTED


def test_integer_parameters_refuse_fractions_and_keep_whole_numbers():
    for name in ("top_k", "max_tokens", "n", "seed", "top_logprobs"):
        assert params.BY_NAME[name].kind == "int"
        with pytest.raises(UsageError, match="whole number"):
            params.check(name, 2.5)
    assert params.check("top_k", 40.0) == 40 and isinstance(params.check("top_k", 40.0), int)
    assert parse.parse_text("top_k", "40") == 40


def test_numbers_refuse_booleans_and_text():
    with pytest.raises(UsageError, match="must be a number"):
        params.check("temperature", True)
    with pytest.raises(UsageError, match=r"must be a number \(got 'hot'\)"):
        parse.parse_text("temperature", "hot")


def test_seed_zero_is_a_seed_and_negative_is_refused():
    assert params.check("seed", 0) == 0
    with pytest.raises(UsageError, match="at least 0"):
        params.check("seed", -1)


def test_timeout_must_be_more_than_zero():
    assert params.check("timeout", 0.5) == 0.5
    with pytest.raises(UsageError, match="more than 0"):
        params.check("timeout", 0)


def test_enum_names_the_choices_and_the_closest():
    with pytest.raises(UsageError, match="json or text") as info:
        params.check("format", "jsn")
    assert info.value.hint == "did you mean json?"
    assert params.check("image_detail", "low") == "low"


def test_code_theme_is_checked_against_pygments_with_close_matches():
    assert params.check("code_theme", "monokai") == "monokai"
    with pytest.raises(UsageError, match="unknown code theme 'monokia'") as info:
        params.check("code_theme", "monokai".replace("ai", "ia"))
    assert "monokai" in (info.value.hint or "")
    with pytest.raises(UsageError) as info:
        params.check("code_theme", "nosuch")
    assert "known:" in (info.value.hint or "") and "dracula" in (info.value.hint or "")


def test_stop_parses_json_lists_like_dash_o():
    assert parse.parse_text("stop", '["a","b"]') == ["a", "b"]
    assert parse.parse_text("stop", "END") == ["END"]
    assert parse.parse_option('stop=["x","y"]') == ("stop", ["x", "y"])
    with pytest.raises(UsageError, match="invalid JSON"):
        parse.parse_text("stop", '["a",')
    with pytest.raises(UsageError, match="at most 4"):
        parse.parse_text("stop", json.dumps(list("abcde")))


def test_top_logprobs_needs_logprobs():
    params.check_together({"logprobs": True, "top_logprobs": 3})
    with pytest.raises(UsageError, match="--top-logprobs needs --logprobs"):
        params.check_together({"top_logprobs": 3})
    with pytest.raises(UsageError):
        params.check_together({"logprobs": False, "top_logprobs": 3})


def test_set_applies_to_a_copy_and_checks_the_whole():
    values = {"temperature": 0.5}
    updated, notice = parse.apply_set(values, "max-tokens", "100")
    assert updated == {"temperature": 0.5, "max_tokens": 100} and notice == "max_tokens = 100"
    assert values == {"temperature": 0.5}
    updated, notice = parse.apply_set(updated, "temperature", "")
    assert "temperature" not in updated and notice == "temperature unset"
    updated, _ = parse.apply_set({}, "stop", '["a", "b"]')
    assert updated == {"stop": ["a", "b"]}
    with pytest.raises(UsageError, match="top_logprobs needs logprobs"):
        parse.apply_set({}, "top_logprobs", "3")
    with pytest.raises(UsageError, match="unknown parameter") as info:
        parse.apply_set({}, "temprature", "1")
    assert info.value.hint == "did you mean temperature?"
    with pytest.raises(UsageError, match="unknown parameter"):
        parse.apply_set({}, "model", "x")  # /model does that; /set is for body fields


def test_set_can_unset_a_field_from_dash_o():
    updated, notice = parse.apply_set({"user": "me"}, "user", "")
    assert updated == {} and notice == "user unset"


def test_dash_o_checks_known_fields_and_passes_others():
    assert parse.parse_option("top_k=40") == ("top_k", 40)
    with pytest.raises(UsageError, match="whole number"):
        parse.parse_option("top_k=2.5")
    assert parse.parse_option('logit_bias={"1": 2}') == ("logit_bias", {"1": 2})
    with pytest.raises(UsageError, match="cannot set 'messages'"):
        parse.parse_option("messages=[]")


def test_help_text_comes_from_the_table():
    assert params.BY_NAME["temperature"].help_text() == "Sampling temperature (0 to 2)."
    model = params.BY_NAME["model"].help_text()
    assert "env AIMLCHAT_MODEL" in model and params.DEFAULT_MODEL in model


def test_every_setting_is_a_flag_and_a_settings_field():
    flags = field_names(Flags)
    fields = field_names(Settings)
    for param in params.TABLE:
        if not param.body:
            assert param.name in flags and param.name in fields, param.name
        assert param.flag.startswith("--")


def test_the_table_imports_nothing_heavy():
    import subprocess
    import sys

    code = "import sys, aimlchat.settings.params; print(sorted(sys.modules))"
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    for heavy in ("pygments", "requests", "rich", "typer", "prompt_toolkit"):
        assert f"'{heavy}" not in loaded, heavy


def test_set_completion_offers_every_body_parameter_and_its_values():
    choices = params.settable_choices()
    assert list(choices) == [p.name for p in params.BODY]
    assert choices["logprobs"] == ("true", "false") and choices["temperature"] == ()
