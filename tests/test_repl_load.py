"""`/load` and `chat --continue` in a real pty: the loaded conversation's model is said
when it differs from the one in use, and its last reply is shown again with its sources,
as it was shown live."""

from __future__ import annotations

from typing import Any

import pexpect

from tests.conftest import invoke, spawn
from tests.loopback import Reply, completion

PROMPT = "›"
ANSWER = "Rust 1.80 shipped in July [1]."
SOURCE = "[1] Announcing Rust 1.80 — https://blog.rust-lang.org/1.80"


def cited(text: str = ANSWER) -> dict[str, Any]:
    body = completion(text)
    body["choices"][0]["message"]["annotations"] = [
        {
            "type": "url_citation",
            "url_citation": {
                "url": "https://blog.rust-lang.org/1.80",
                "title": "Announcing Rust 1.80",
            },
        }
    ]
    return body


def saved_conversation(cli_env: dict[str, str], server: Any, *model: str) -> None:
    """Conversation 1: one exchange whose reply cites a source."""
    server.push(Reply(body=cited()))
    r = invoke(["ask", "--no-stream", *model, "what is new in rust"], cli_env)
    assert r.returncode == 0, r.stderr


def quit_(child: Any) -> str:
    child.sendeof()
    child.expect(pexpect.EOF)
    return str(child.before)


def test_load_says_the_model_it_switches_to_and_shows_the_reply_with_its_sources(cli_env, server):
    saved_conversation(cli_env, server, "-m", "openai/gpt-4o")
    child = spawn(["chat"], cli_env)
    child.expect_exact("meta-llama/llama-4-scout")  # the banner: the model in use
    child.expect_exact(PROMPT)
    child.sendline("/load 1")
    child.expect_exact("loaded conversation 1")
    child.expect_exact("model: openai/gpt-4o")
    child.expect_exact("Rust 1.80 shipped in July")
    child.expect_exact("Sources:")
    child.expect_exact(SOURCE)
    child.expect_exact(PROMPT)
    child.sendline("more")
    child.expect_exact("Hello from the loopback server.")
    child.expect_exact(PROMPT)
    quit_(child)
    assert server.chat_bodies()[-1]["model"] == "openai/gpt-4o"


def test_load_of_a_conversation_with_the_model_in_use_says_no_model(cli_env, server):
    saved_conversation(cli_env, server)
    child = spawn(["chat"], cli_env)
    child.expect_exact(PROMPT)
    child.sendline("/load 1")
    child.expect_exact(SOURCE)
    child.expect_exact(PROMPT)
    shown = str(child.before)
    assert "model:" not in shown
    quit_(child)


def test_continue_shows_the_last_reply_with_its_sources(cli_env, server):
    saved_conversation(cli_env, server)
    child = spawn(["chat", "--continue"], cli_env)
    child.expect_exact("resumed 2 messages")
    child.expect_exact("Rust 1.80 shipped in July")
    child.expect_exact("Sources:")
    child.expect_exact(SOURCE)
    child.expect_exact(PROMPT)
    quit_(child)
