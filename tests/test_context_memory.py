"""A window a server's error stated, remembered per base URL and model across processes:
the next request is trimmed before it is sent. Flag, config and catalogue still win.
Loopback server, smallctx script (a 2048-token model that answers at length)."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest

from aimlchat.chat.context import resolve_window
from tests.conftest import invoke, run_cli
from tests.loopback import LoopbackServer
from tests.loopback_tools import SMALL_MODEL_ID, SMALL_WINDOW, smallctx_script

RETRIED = "the server says the context is too long; retrying once"


def memory_file(home: Path) -> Path:
    return home / "cache" / "aimlchat" / "context-windows.json"


def question(i: int) -> str:
    return f"question {i}: " + "tell me more about the history of this topic please. " * 10


def ask(cli_env: dict[str, str], text: str, *flags: str) -> Any:
    return invoke(["ask", "-m", SMALL_MODEL_ID, "--continue", *flags, text], cli_env)


def learn_the_window(cli_env: dict[str, str], server: LoopbackServer) -> int:
    """Talk until the server's context error (no catalogue: the window is unknown till
    then); the turn that hit it is retried trimmed, as before. The turns taken."""
    server.script = smallctx_script
    for i in range(20):
        r = ask(cli_env, question(i))
        assert r.returncode == 0, r.stderr
        if RETRIED in r.stderr:
            assert len(server.chat_bodies()) == i + 2  # that turn alone sent twice
            return i + 1
    raise AssertionError("the server never said the context was too long")


def test_a_window_the_server_stated_trims_the_next_process_before_sending(cli_env, server, home):
    turns = learn_the_window(cli_env, server)
    sent = len(server.chat_bodies())
    r = run_cli(["ask", "-c", "-m", SMALL_MODEL_ID, "and one more"], cli_env)
    assert r.returncode == 0, r.stderr
    assert len(server.chat_bodies()) == sent + 1  # trimmed before sending: no error, no retry
    assert RETRIED not in r.stderr.decode()
    assert "context: left out" in r.stderr.decode()
    last = server.chat_bodies()[-1]["messages"]
    assert last[-1]["content"] == "and one more" and len(last) < 2 * turns + 1


def test_the_remembered_window_is_private_and_keyed_by_base_url_and_model(cli_env, server, home):
    learn_the_window(cli_env, server)
    path = memory_file(home)
    assert json.loads(path.read_text()) == {server.base_url: {SMALL_MODEL_ID: SMALL_WINDOW}}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


@pytest.mark.parametrize(
    ("flags", "config"),
    [
        (["--context-length", "1000000"], ""),
        ([], f'[models."{SMALL_MODEL_ID}"]\ncontext_length = 1000000\n'),
    ],
)
def test_the_flag_and_the_config_still_win_over_a_remembered_window(
    cli_env, server, home, flags, config
):
    turns = learn_the_window(cli_env, server)
    (home / "config" / "aimlchat").mkdir(parents=True, exist_ok=True)
    (home / "config" / "aimlchat" / "config.toml").write_text(config)
    sent = len(server.chat_bodies())
    r = ask(cli_env, "and one more", *flags)
    assert r.returncode == 0, r.stderr
    first, _retried = server.chat_bodies()[sent:]  # sent whole, refused, then trimmed
    assert len(first["messages"]) == 2 * turns + 1
    assert RETRIED in r.stderr


def test_the_catalogue_wins_over_a_remembered_window():
    window = resolve_window("m", catalogue=4096, learned=2048)
    assert (window.length, window.source) == (4096, "catalogue")
    learned = resolve_window("m", learned=2048)
    assert learned.length == 2048 and "server error" in learned.source


def test_a_window_remembered_for_another_server_is_not_used(cli_env, server, home):
    server.script = smallctx_script
    path = memory_file(home)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"http://elsewhere.invalid/v1": {SMALL_MODEL_ID: 100}}))
    for i in range(3):
        assert ask(cli_env, question(i)).returncode == 0
    assert [len(b["messages"]) for b in server.chat_bodies()] == [1, 3, 5]  # nothing trimmed


def test_an_unreadable_memory_file_is_ignored_then_replaced(cli_env, server, home):
    path = memory_file(home)
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    learn_the_window(cli_env, server)
    assert json.loads(path.read_text()) == {server.base_url: {SMALL_MODEL_ID: SMALL_WINDOW}}
