"""Models catalogue, images, keys, config, completions, and the startup budget."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TEST_KEY, invoke, run_cli

ROOT = Path(__file__).resolve().parent.parent
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00"
    b"\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N"
    b"\x00\x00\x00\x00IEND\xaeB`\x82"
)


def test_models_table_with_prices_per_million(cli_env, server):
    r = invoke(["models", "llama", "--pricing"], cli_env)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.decode().splitlines()
    assert lines[0].split("\t") == ["ID", "NAME", "CONTEXT", "OUTPUT", "IN $/1M", "OUT $/1M"]
    rows = {line.split("\t")[0]: line.split("\t") for line in lines[1:]}
    assert rows["meta-llama/llama-4-scout"][4:] == ["$0.19", "$0.63"]
    # per is 1,000 for this one: 0.000924 / 1000 * 1e6 = 0.924
    assert rows["meta-llama/Llama-3.3-70B-Instruct-Turbo"][4] == "$0.92"
    assert "openai/gpt-4o" not in rows and "flux/schnell" not in rows
    # The catalogue needs no key; one in the environment is sent for servers that want it.
    assert server.requests[0]["headers"]["Authorization"] == f"Bearer {TEST_KEY}"
    r = invoke(["models"], {**cli_env, "AIML_API_KEY": ""})
    assert r.returncode == 0 and "Authorization" not in server.requests[-1]["headers"]


def test_models_revalidates_with_etag_and_falls_back_offline(cli_env, server):
    invoke(["models"], cli_env)
    r = invoke(["models", "--json"], cli_env)
    assert server.requests[-1]["headers"].get("If-None-Match") == '"models-v1"'
    assert len(json.loads(r.stdout)) == 3
    server.stop()
    r = invoke(["models", "--vision"], cli_env)
    assert r.returncode == 0
    assert "cached list" in r.stderr
    ids = [line.split("\t")[0] for line in r.stdout.decode().splitlines()[1:]]
    assert ids == ["meta-llama/llama-4-scout", "openai/gpt-4o"]


def test_models_reads_the_openai_shape(cli_env, server):
    from tests.loopback import Reply

    server.models_reply = Reply(
        body={"object": "list", "data": [{"id": "gpt-x", "object": "model", "owned_by": "acme"}]}
    )
    r = invoke(["models", "--all"], cli_env)
    assert r.returncode == 0 and b"gpt-x" in r.stdout


def test_unknown_model_warns_with_the_closest_names(cli_env, server):
    invoke(["models"], cli_env)
    r = invoke(["ask", "-m", "llama-4-scot", "hi"], cli_env)
    assert r.returncode == 0
    assert "not in the catalogue" in r.stderr and "llama-4-scout" in r.stderr
    assert server.chat_bodies()[0]["model"] == "llama-4-scot"


def test_attached_image_becomes_a_data_url_part(cli_env, server, tmp_path):
    photo = tmp_path / "photo.png"
    photo.write_bytes(PNG)
    r = invoke(
        [
            "ask",
            "what is in this picture",
            "-a",
            str(photo),
            "--image-detail",
            "low",
            "-a",
            "https://example.com/cat.jpg",
        ],
        cli_env,
    )
    assert r.returncode == 0, r.stderr
    content = server.chat_bodies()[0]["messages"][0]["content"]
    assert content[0] == {"type": "text", "text": "what is in this picture"}
    assert content[1]["image_url"]["url"].startswith("data:image/png;base64,iVBORw0KGgo")
    assert content[1]["image_url"]["detail"] == "low"
    assert content[2]["image_url"]["url"] == "https://example.com/cat.jpg"


@pytest.mark.parametrize(
    "setup, message",
    [
        (None, "no such file"),
        (b"just text", "not a JPEG, PNG, GIF or WEBP"),
    ],
)
def test_bad_attachments_fail_before_any_request(cli_env, server, tmp_path, setup, message):
    path = tmp_path / "file.png"
    if setup is not None:
        path.write_bytes(setup)
    r = invoke(["ask", "hi", "-a", str(path)], cli_env)
    assert r.returncode == 2 and message in r.stderr
    assert server.requests == []


def test_key_set_writes_0600_in_0700_and_config_show_hides_it(cli_env, server, home):
    env = {**cli_env, "AIML_API_KEY": ""}
    old = os.umask(0)
    try:  # a real process: the umask it inherits is the point
        r = run_cli(["key", "set"], env, input="sk-stored-key-987654\n")
    finally:
        os.umask(old)
    assert r.returncode == 0, r.stderr
    path = Path(invoke(["key", "path"], env).stdout.decode().strip())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    (home / "config" / "aimlchat" / "config.toml").write_text('api_key = "sk-in-config"\n')
    shown = invoke(["config", "show"], env)
    assert b"sk-stored-key" not in shown.stdout and b"sk-in-config" not in shown.stdout
    r = invoke(["ask", "hi"], env)
    assert server.requests[-1]["headers"]["Authorization"] == "Bearer sk-stored-key-987654"
    assert invoke(["key", "remove"], env).returncode == 0 and not path.exists()


def test_env_key_wins_and_key_command_is_used(cli_env, server, home):
    cfg = home / "config" / "aimlchat"
    cfg.mkdir(parents=True, exist_ok=True)
    (cfg / "config.toml").write_text(
        f"api_key_command = \"{sys.executable} -c 'print(42 * 1000000)'\"\n"
    )
    invoke(["ask", "hi"], cli_env)
    assert server.requests[-1]["headers"]["Authorization"] == f"Bearer {TEST_KEY}"
    invoke(["ask", "hi"], {**cli_env, "AIML_API_KEY": ""})
    assert server.requests[-1]["headers"]["Authorization"] == "Bearer 42000000"


def test_config_sets_model_params_and_roles(cli_env, server, home):
    cfg = home / "config" / "aimlchat"
    cfg.mkdir(parents=True, exist_ok=True)
    (cfg / "config.toml").write_text(
        'model = "from/config"\n[params]\ntemperature = 0.3\n[roles]\nshell = "Only commands."\n'
    )
    invoke(["ask", "-r", "shell", "hi"], cli_env)
    body = server.chat_bodies()[0]
    assert body["model"] == "from/config" and body["temperature"] == 0.3
    assert body["messages"][0] == {"role": "system", "content": "Only commands."}
    invoke(["ask", "hi"], {**cli_env, "AIMLCHAT_MODEL": "from/env"})
    assert server.chat_bodies()[1]["model"] == "from/env"
    r = invoke(["ask", "-r", "nope", "hi"], cli_env)
    assert r.returncode == 2 and "unknown role" in r.stderr


def test_corrupt_config_names_line_and_column(cli_env, server, home):
    cfg = home / "config" / "aimlchat"
    cfg.mkdir(parents=True, exist_ok=True)
    (cfg / "config.toml").write_text('model = "x"\ntemperature = = 1\n')
    r = invoke(["ask", "hi"], cli_env)
    assert r.returncode == 3
    assert "line 2" in r.stderr and "column" in r.stderr and "Traceback" not in r.stderr


def test_image_from_stdin_and_oversized_files(cli_env, server, tmp_path):
    r = invoke(["ask", "what is this", "-a", "-"], cli_env, input=PNG)
    assert r.returncode == 0, r.stderr
    part = server.chat_bodies()[0]["messages"][0]["content"][1]
    assert part["image_url"]["url"].startswith("data:image/png;base64,")
    big = tmp_path / "huge.png"
    with big.open("wb") as fh:
        fh.truncate(21 * 1024 * 1024)  # sparse: the size check must come before reading
    r = invoke(["ask", "hi", "-a", str(big)], cli_env)
    assert r.returncode == 2 and "limited to 20 MB" in r.stderr


def test_config_edit_writes_a_private_template_and_checks_it(cli_env, home):
    r = invoke(["config", "edit"], {**cli_env, "EDITOR": "true"})
    assert r.returncode == 0 and "is valid" in r.stderr
    path = Path(invoke(["config", "path"], cli_env).stdout.decode().strip())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "[roles]" in path.read_text()


def test_role_in_the_repl_sets_the_system_prompt(cli_env, server, home):
    import io

    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    from aimlchat.commands.repl import Repl, loop, make_prompt_session
    from aimlchat.commands.runtime import App
    from aimlchat.settings.resolve import Flags
    from aimlchat.terminal.environment import Environment

    cfg = home / "config" / "aimlchat"
    cfg.mkdir(parents=True, exist_ok=True)
    (cfg / "config.toml").write_text('[roles]\npirate = "Talk like a pirate."\n')
    out = io.StringIO()
    env = Environment(stdin=io.StringIO(), stdout=out, stderr=io.StringIO(), environ=cli_env)
    app = App(Flags(no_history=True), env)
    repl = Repl(app, app.open_chat(stream=True), out.write)
    with create_pipe_input() as pipe:
        pipe.send_text("/role pirate\rahoy\r/exit\r")
        loop(repl, make_prompt_session(app, input=pipe, output=DummyOutput()))
    first = server.chat_bodies()[0]["messages"][0]
    assert first == {"role": "system", "content": "Talk like a pirate."}


def _loaded(args: list[str], env: dict[str, str]) -> set[str]:
    r = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "aimlchat", *args],
        env=env,
        capture_output=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    mods = set()
    for line in r.stderr.decode().splitlines():
        if line.startswith("import time:") and "|" in line:
            mods.add(line.rsplit("|", 1)[1].strip())
    return mods


def test_help_and_version_load_neither_requests_nor_prompt_toolkit(cli_env):
    for args in (["--help"], ["--version"], ["ask", "--help"]):
        mods = _loaded(args, cli_env)
        assert "typer" in mods
        assert not {"requests", "prompt_toolkit", "rich.markdown", "urllib3"} & mods, args


def test_piped_ask_loads_no_prompt_toolkit_and_no_markdown(cli_env, server):
    mods = _loaded(["ask", "hi"], cli_env)
    assert "requests" in mods
    assert "prompt_toolkit" not in mods and "rich.markdown" not in mods


# What a plain piped `ask` (no -T, -f, -a, -r, -c, nothing cached) never needs: each is a
# few ms of a start-up that the brief holds to 1.5x a bare requests script.
NOT_FOR_A_PLAIN_ASK = {
    "rich",
    "aimlchat.terminal.render",
    "aimlchat.terminal.reasoning",
    "aimlchat.tools.run",
    "aimlchat.tools.process",
    "aimlchat.tools.turn",
    "aimlchat.tools.mcp",  # only when an MCP server is used
    "aimlchat.chat.files",
    "aimlchat.chat.gitignore",
    "aimlchat.chat.roles",
    "aimlchat.chat.repair",
    "aimlchat.chat.fit",
    "aimlchat.chat.context_errors",
    "aimlchat.chat.window_memory",
    "aimlchat.remembered",
    "aimlchat.api.catalog",
    "aimlchat.api.deprecations",  # read only when a feed is cached (commands.runtime)
    "aimlchat.api.adapters.responses",
    "aimlchat.storage.search",
    "platformdirs",
}


def test_a_plain_piped_ask_loads_only_what_it_uses(cli_env, server, tmp_path):
    env = {k: v for k, v in cli_env.items() if not k.startswith("XDG_")}  # folders from HOME
    if sys.platform == "linux":
        assert NOT_FOR_A_PLAIN_ASK & _loaded(["ask", "hi"], env) == set()
    (tmp_path / "notes.txt").write_text("a note\n")
    with_a_file = _loaded(["ask", "-f", str(tmp_path / "notes.txt"), "hi"], cli_env)
    assert "aimlchat.chat.files" in with_a_file  # the check above can see them load


# What talks to an MCP server: loaded only when one is used, not when one is declared.
MCP_AT_WORK = {
    "aimlchat.tools.mcp.session",
    "aimlchat.tools.mcp.stdio",
    "aimlchat.tools.mcp.http",
    "aimlchat.tools.mcp.server",
    "aimlchat.tools.mcp.provider",
    "mcp",
}


def test_mcp_servers_declared_but_unused_cost_a_plain_ask_nothing(cli_env, server, home):
    folder = home / "config" / "aimlchat"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.toml").write_text(
        '[mcp.local]\ncommand = ["mcp-server-that-is-not-there"]\n'
        '[mcp.aiml]\nurl = "https://mcp.aimlapi.com/mcp"\n'
        'headers = { Authorization = "Bearer ${AIML_API_KEY}" }\n'
    )
    for args in (["--help"], ["--version"], ["ask", "hi"]):
        assert MCP_AT_WORK & _loaded(args, cli_env) == set(), args
    assert invoke(["ask", "hi"], cli_env).returncode == 0  # and nothing was started


SHELLS = {
    "bash": "aimlchat.bash",
    "zsh": "_aimlchat",
    "fish": "aimlchat.fish",
    "powershell": "aimlchat.ps1",
}


def generate_completion(shell: str) -> str:
    env = {**os.environ, "_AIMLCHAT_COMPLETE": f"source_{shell}"}
    r = subprocess.run(
        [sys.executable, "-m", "aimlchat"],
        env=env,
        capture_output=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    return r.stdout.decode()


@pytest.mark.parametrize("shell", sorted(SHELLS))
def test_completion_files_match_the_cli(shell):
    current = (ROOT / "completions" / SHELLS[shell]).read_text()
    assert generate_completion(shell) == current, (
        f"completions/{SHELLS[shell]} is stale: python tests/test_ecosystem.py regenerates it"
    )


def test_bash_completes_subcommands(cli_env):
    env = {
        **cli_env,
        "_AIMLCHAT_COMPLETE": "complete_bash",
        "COMP_WORDS": "aimlchat ch",
        "COMP_CWORD": "1",
    }
    r = subprocess.run(
        [sys.executable, "-m", "aimlchat"], env=env, capture_output=True, check=False
    )
    assert "chat" in r.stdout.decode().split()


if __name__ == "__main__":
    for shell_name, file_name in SHELLS.items():
        (ROOT / "completions" / file_name).write_text(generate_completion(shell_name))
