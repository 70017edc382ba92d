"""Integer parameters stay integers from where they are typed to the JSON body: no float
round trip (which turned 2**63 - 1 into 2**63), and nothing outside a signed 64-bit
integer, whatever the source: flag, -o, config.toml or /set."""

from __future__ import annotations

import pytest

from aimlchat.errors import UsageError
from aimlchat.settings import params, parse
from tests.conftest import invoke

INT64_MAX = 2**63 - 1


def sent_seed(server) -> object:
    (body,) = server.chat_bodies()
    return body["seed"]


def test_the_largest_seed_is_sent_exactly(cli_env, server):
    r = invoke(["ask", "--seed", str(INT64_MAX), "hi"], cli_env)
    assert r.returncode == 0, r.stderr
    assert sent_seed(server) == INT64_MAX
    assert b'"seed": 9223372036854775807' in server.requests[-1]["body"]


def test_the_largest_seed_is_sent_exactly_from_an_option(cli_env, server):
    r = invoke(["ask", "-o", f"seed={INT64_MAX}", "hi"], cli_env)
    assert r.returncode == 0, r.stderr
    assert sent_seed(server) == INT64_MAX


def test_the_largest_seed_is_sent_exactly_from_config(cli_env, server, home):
    (home / "config" / "aimlchat").mkdir()
    (home / "config" / "aimlchat" / "config.toml").write_text(f"[params]\nseed = {INT64_MAX}\n")
    r = invoke(["ask", "hi"], cli_env)
    assert r.returncode == 0, r.stderr
    assert sent_seed(server) == INT64_MAX


@pytest.mark.parametrize(
    "args",
    [
        ["--seed", str(INT64_MAX + 1)],
        ["-o", f"seed={INT64_MAX + 1}"],
        ["--max-tokens", str(2**64)],
        ["--top-k", str(-(2**63) - 1)],
    ],
)
def test_beyond_64_bits_is_refused_with_the_range(cli_env, server, args):
    r = invoke(["ask", "hi", *args], cli_env)
    assert r.returncode == 2, r.stderr
    assert "9223372036854775807" in r.stderr and "Traceback" not in r.stderr
    assert server.requests == []


def test_beyond_64_bits_in_config_is_refused(cli_env, server, home):
    (home / "config" / "aimlchat").mkdir()
    (home / "config" / "aimlchat" / "config.toml").write_text(f"[params]\nseed = {INT64_MAX + 1}\n")
    r = invoke(["ask", "hi"], cli_env)
    assert r.returncode in (2, 3), r.stderr
    assert "9223372036854775807" in r.stderr and server.requests == []


def test_set_seed_keeps_every_digit():
    values, notice = parse.apply_set({}, "seed", str(INT64_MAX))
    assert values["seed"] == INT64_MAX and type(values["seed"]) is int
    assert notice == f"seed = {INT64_MAX}"


def test_set_seed_beyond_64_bits_names_the_range():
    with pytest.raises(UsageError, match=r"between 0 and 9223372036854775807"):
        parse.apply_set({}, "seed", str(INT64_MAX + 1))


@pytest.mark.parametrize("text", ["1.5", "1e3", "12abc"])
def test_set_an_integer_from_something_else_is_refused(text):
    with pytest.raises(UsageError, match="whole number"):
        parse.apply_set({}, "max_tokens", text)


def test_a_whole_float_from_json_or_toml_is_taken_as_that_integer():
    # `-o max_tokens=100.0` and `max_tokens = 100.0` in TOML arrive as floats.
    assert params.check("max_tokens", 100.0) == 100
    assert type(params.check("max_tokens", 100.0)) is int


def test_a_float_too_large_to_be_exact_is_refused():
    with pytest.raises(UsageError, match="whole number"):
        params.check("seed", 1e19)
    with pytest.raises(UsageError, match="whole number"):
        params.check("seed", float(2**60))  # past 2**53 a float cannot say which integer


def test_an_integer_stays_an_int_through_check():
    assert params.check("seed", INT64_MAX) == INT64_MAX
    assert type(params.check("n", 2)) is int


def test_an_integer_too_large_for_a_float_parameter_is_refused_cleanly():
    with pytest.raises(UsageError, match="finite"):
        params.check("temperature", 10**400)


def test_set_seed_in_chat_sends_every_digit(cli_env, server):
    import pexpect

    from tests.conftest import spawn

    child = spawn(["chat"], cli_env)
    child.expect_exact("›")
    child.sendline(f"/set seed {INT64_MAX}")
    child.expect_exact(f"seed = {INT64_MAX}")
    child.expect_exact("›")
    child.sendline(f"/set seed {INT64_MAX + 1}")
    child.expect_exact("64-bit integer")
    child.expect_exact("›")
    child.sendline("hi")
    child.expect_exact("Hello from the loopback server.")
    child.expect_exact("›")
    child.sendeof()
    child.expect(pexpect.EOF)
    assert sent_seed(server) == INT64_MAX
