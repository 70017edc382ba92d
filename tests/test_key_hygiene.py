"""An API key that is not one clean token never reaches a header nor the screen.

A key with a line break (a `pass` entry's metadata, a pasted `\\r\\n`) used to reach
requests, whose InvalidHeader carried the header's repr into --debug, and the failure was
reported as a network error that "may have been billed". The key is now checked where it
is resolved, whatever its source; `api_key_command` keeps only its first line, as `pass`
and most password tools expect.
"""

from __future__ import annotations

import json
import sys

import pytest

from aimlchat.api.adapters import ChatRequest
from aimlchat.errors import ExitCode
from tests.conftest import invoke

SECRET = "sk-secret-XYZ"


def _config(home, text: str) -> None:
    cfg = home / "config" / "aimlchat"
    cfg.mkdir(parents=True, exist_ok=True)
    (cfg / "config.toml").write_text(text, encoding="utf-8")


def _key_command(home, output: str) -> None:
    """api_key_command = a script printing `output` (the `pass show` shape)."""
    script = home / "fakepass.py"
    script.write_text(f"import sys\nsys.stdout.write({output!r})\n", encoding="utf-8")
    _config(home, f"api_key_command = {json.dumps(f'{sys.executable} {script} show aimlapi')}\n")


def _assert_refused(r, server, source: str) -> None:
    assert r.returncode == ExitCode.AUTH, r.stderr
    assert f"{source} contains" in r.stderr
    assert "billed" not in r.stderr
    for shown in (r.stderr, r.stdout.decode()):
        assert SECRET not in shown and "login: me" not in shown
    assert server.chat_bodies() == []  # refused before anything was sent


@pytest.mark.parametrize("debug", [[], ["--debug"]])
@pytest.mark.parametrize("key", [f"{SECRET}\r\nX-Evil: 1", f"{SECRET}\nlogin: me"])
def test_an_env_key_with_a_line_break_is_refused_and_never_shown(cli_env, server, key, debug):
    r = invoke([*debug, "ask", "hi"], {**cli_env, "AIML_API_KEY": key})
    _assert_refused(r, server, "AIML_API_KEY")
    assert "a line break" in r.stderr


@pytest.mark.parametrize("debug", [[], ["--debug"]])
def test_a_key_file_with_a_line_break_is_refused(cli_env, server, home, debug):
    (home / "config" / "aimlchat").mkdir(parents=True, exist_ok=True)
    (home / "config" / "aimlchat" / "api_key").write_text(f"{SECRET}\nlogin: me\n")
    r = invoke([*debug, "ask", "hi"], {**cli_env, "AIML_API_KEY": ""})
    _assert_refused(r, server, f"the key file {home / 'config' / 'aimlchat' / 'api_key'}")


@pytest.mark.parametrize("debug", [[], ["--debug"]])
def test_a_config_api_key_with_a_line_break_is_refused(cli_env, server, home, debug):
    _config(home, f'api_key = "{SECRET}\\nlogin: me"\n')
    r = invoke([*debug, "ask", "hi"], {**cli_env, "AIML_API_KEY": ""})
    _assert_refused(r, server, "api_key in config.toml")


@pytest.mark.parametrize("debug", [[], ["--debug"]])
def test_an_api_key_command_first_line_with_inner_space_is_refused(cli_env, server, home, debug):
    _key_command(home, f"{SECRET} login: me\nurl: aimlapi.com\n")
    r = invoke([*debug, "ask", "hi"], {**cli_env, "AIML_API_KEY": ""})
    _assert_refused(r, server, "api_key_command's first line")
    assert "whitespace" in r.stderr


@pytest.mark.parametrize("bad", ["\x1b[2J", "\x00", "\u2026"])
def test_a_key_with_a_control_or_non_ascii_character_is_refused(cli_env, server, bad):
    r = invoke(["ask", "hi"], {**cli_env, "AIML_API_KEY": f"{SECRET}{bad}tail"})
    _assert_refused(r, server, "AIML_API_KEY")


def test_pass_style_command_output_sends_only_the_first_line(cli_env, server, home):
    _key_command(home, f"{SECRET}\nlogin: me\nurl: aimlapi.com\n")
    r = invoke(["ask", "hi"], {**cli_env, "AIML_API_KEY": ""})
    assert r.returncode == 0, r.stderr
    assert server.requests[-1]["headers"]["Authorization"] == f"Bearer {SECRET}"


def test_the_redactor_scrubs_a_secret_in_its_escaped_forms():
    from aimlchat.errors import Redactor

    redact = Redactor()
    secret = f"{SECRET}\r\nX-Evil: 1\t\u2026"
    redact.add(secret)
    for shown in (
        repr(f"Bearer {secret}"),
        json.dumps({"h": secret}),
        json.dumps({"h": secret}, ensure_ascii=False),
        repr(f"Bearer {secret}".encode()),
    ):
        assert SECRET not in redact(shown), shown


# -- a request that cannot even be prepared was never sent: not "may have been billed" ----


def test_a_header_requests_refuses_is_a_config_error_not_a_billed_network_error(server):
    from aimlchat.api.client import Client
    from aimlchat.errors import ConfigError

    notices: list[object] = []
    client = Client(
        base_url=server.base_url, api_key=f"{SECRET}\nX: 1", timeout=5, retries=2,
        notice=notices.append,
    )  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        client.complete(ChatRequest("m", ()))
    assert "billed" not in caught.value.message and SECRET not in caught.value.message
    assert notices == [] and server.requests == []  # not retried, nothing sent


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:99999/v1",
        "http://[::1/v1",
        "http://127.0.0.1:1/v1\r\nX-Injected: 1",
        "http://127.0.0.1:1/a b",
    ],
)
def test_a_base_url_that_cannot_be_parsed_is_a_usage_error(cli_env, server, url):
    r = invoke(["ask", "hi"], {**cli_env, "AIMLCHAT_BASE_URL": url})
    assert r.returncode == ExitCode.USAGE, r.stderr
    assert "invalid base URL" in r.stderr and "billed" not in r.stderr


def test_an_unparseable_url_reaching_the_client_is_a_usage_error(server):
    from aimlchat.api.client import Client
    from aimlchat.errors import UsageError

    client = Client(base_url="http://127.0.0.1:99999/v1", api_key="sk-ok", timeout=5, retries=2,
                    notice=lambda _: None)  # fmt: skip
    with pytest.raises(UsageError) as caught:
        client.complete(ChatRequest("m", ()))
    assert "billed" not in caught.value.message
