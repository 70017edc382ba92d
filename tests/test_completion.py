"""Shell completion driven as bash, zsh and fish drive it: model ids from the cached
catalogue (no network, no requests import), enum values, role names, and the default
command (`aimlchat -m <TAB>` completes as `aimlchat ask -m <TAB>`)."""

from __future__ import annotations

import shlex
import subprocess
import sys

import pytest

from tests.conftest import invoke

IDS = [
    "meta-llama/llama-4-scout",
    "llama-4-scout",
    "meta-llama/Llama-3.3-70B-Instruct-Turbo",
    "llama-3.3-70b",
    "openai/gpt-4o",
    "gpt-4o",
]


def bash(line: str, env: dict[str, str], *flags: str) -> list[str]:
    """What bash's completion function gets for `line` (the cursor at its end).

    As bash does: COMP_WORDS keeps a quoted word whole, quotes and all, and the script
    joins the words with newlines."""
    words = shlex.split(line, posix=False) + ([""] if line.endswith(" ") else [])
    cword = len(words) - 1
    r = subprocess.run(
        [sys.executable, *flags, "-m", "aimlchat"],
        env={**env, "_AIMLCHAT_COMPLETE": "complete_bash", "COMP_WORDS": "\n".join(words),
             "COMP_CWORD": str(cword)},
        capture_output=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    return r.stdout.decode().split()


@pytest.fixture
def cached(cli_env, server) -> dict[str, str]:
    """A catalogue in the cache (as `aimlchat models` leaves it), then the server gone."""
    assert invoke(["models"], cli_env).returncode == 0
    server.stop()
    return cli_env


def test_bash_completes_model_ids_and_aliases_from_the_cache(cached):
    assert bash("aimlchat ask -m ", cached) == IDS
    assert bash("aimlchat chat --model meta", cached) == IDS[0:1] + IDS[2:3]


def test_the_default_command_completes_as_ask(cached):
    assert bash("aimlchat -m gpt", cached) == ["gpt-4o"]
    assert bash("aimlchat 'what is this' -m llama", cached) == ["llama-4-scout", "llama-3.3-70b"]
    assert bash("aimlchat --format ", cached) == ["json", "text"]
    assert "roles" in bash("aimlchat ro", cached)  # the first word is still a command


def test_model_completion_uses_the_cache_of_the_base_url_in_use(cached):
    assert bash("aimlchat ask --base-url http://127.0.0.1:9/v1 -m ", cached) == []
    assert bash("aimlchat ask -m ", {**cached, "XDG_CACHE_HOME": "/nonexistent"}) == []


def test_completing_a_model_loads_neither_requests_nor_rich(cached):
    r = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "aimlchat"],
        env={**cached, "_AIMLCHAT_COMPLETE": "complete_bash", "COMP_WORDS": "aimlchat -m ",
             "COMP_CWORD": "2"},
        capture_output=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert r.stdout.decode().split() == IDS
    loaded = {
        line.rsplit("|", 1)[1].strip()
        for line in r.stderr.decode().splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert "aimlchat.api.catalog" in loaded
    assert not {"requests", "urllib3", "rich", "prompt_toolkit", "pygments"} & loaded


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("aimlchat ask --image-detail ", ["low", "high", "auto"]),
        ("aimlchat chat --reasoning-effort ", None),
        ("aimlchat ask --code-theme monok", ["monokai"]),
        ("aimlchat ask -r c", ["cmd", "code"]),
        ("aimlchat roles show co", ["code"]),
    ],
)
def test_enum_options_and_roles_complete_their_values(cli_env, line, expected):
    from aimlchat.settings.params import BY_NAME

    got = bash(line, cli_env)
    if expected is None:  # the table's own choices, whatever they are
        expected = list(BY_NAME["reasoning_effort"].choices)
        assert expected
    assert got == expected


def test_zsh_and_fish_show_the_model_name_beside_the_id(cached):
    common = {**cached, "_TYPER_COMPLETE_ARGS": "aimlchat -m openai/"}
    zsh = subprocess.run(
        [sys.executable, "-m", "aimlchat"],
        env={**common, "_AIMLCHAT_COMPLETE": "complete_zsh"},
        capture_output=True,
        check=False,
    )
    assert '"openai/gpt-4o":"GPT-4o"' in zsh.stdout.decode()
    fish = subprocess.run(
        [sys.executable, "-m", "aimlchat"],
        env={**common, "_AIMLCHAT_COMPLETE": "complete_fish",
             "_TYPER_COMPLETE_FISH_ACTION": "get-args"},
        capture_output=True,
        check=False,
    )  # fmt: skip
    assert fish.stdout.decode().split("\n")[0] == "openai/gpt-4o\tGPT-4o"
