"""`/context` counts what waits for the next message (`/file`, `/image`, `-f`): the numbers
are the ones sending would use, and it says plainly when the attachments cannot fit. The
REPL's loop on a prompt_toolkit pipe against the loopback server."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.loopback_tools import smallctx_script
from tests.test_chat_attachments import open_repl

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def typed(repl: Any, keys: str) -> None:
    """Lines typed at the chat prompt, then /exit."""
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    from aimlchat.commands.repl import loop, make_prompt_session

    with create_pipe_input() as pipe:
        pipe.send_text(keys + "/exit\r")
        loop(repl, make_prompt_session(repl.app, repl, input=pipe, output=DummyOutput()))


def line(text: str, label: str) -> str:
    found = re.search(rf"^  {label} +(.*)$", text, re.MULTILINE)
    assert found, f"no {label} line in:\n{text}"
    return found.group(1)


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.txt").write_text("alpha beta gamma\n" * 20)
    (tmp_path / "big.txt").write_text("lorem ipsum dolor sit amet\n" * 6000)
    (tmp_path / "dot.png").write_bytes(PNG)
    yield tmp_path


def test_context_counts_files_attached_for_the_next_message(cli_env, server, files):
    repl = open_repl(cli_env, context_length=4000)
    typed(repl, "/context\r/file a.txt\r/context\r")
    before, after = repl.out.getvalue().split("window 4k")[1:]
    assert "attached" not in before and "  new      ~0  0 messages" in before
    attached = re.fullmatch(r"~(\d+)  1 file \(/file\)", line(after, "attached"))
    assert attached, after
    # the file's share on top of the 1k reserved and the request's overhead
    total = re.search(r"^  total +~(\d\.\d)k of 4k \((\d+)%\)$", after, re.MULTILINE)
    assert total, after
    assert abs(float(total.group(1)) * 1000 - 1000 - int(attached.group(1))) <= 60
    assert int(total.group(2)) > 25
    assert "over the window" not in after


def test_context_says_when_the_attachments_alone_are_over_the_window(cli_env, server, files):
    repl = open_repl(cli_env, context_length=4000)
    typed(repl, "/file a.txt big.txt\r/context\r")
    shown = repl.out.getvalue()
    repl.handle("sum them up")
    attached = line(shown, "attached")
    size = re.fullmatch(r"~(\S+)  2 files \(/file\)", attached)
    assert size, attached
    # The number /context shows is the one the refusal gives: one estimate, not two.
    assert f"the message is ~{size.group(1)} tokens" in repl.err.getvalue()
    assert server.chat_bodies() == []
    assert "the attachments alone are over the window: /file rm N" in shown
    assert re.search(r"^  total +~\S+ of 4k \(\d{3,}%\)$", shown, re.MULTILINE)


def test_context_says_when_attachments_and_the_reply_reserve_do_not_fit(cli_env, server, files):
    (files / "mid.txt").write_text("lorem ipsum dolor sit amet\n" * 480)  # over 3k, under 4k
    repl = open_repl(cli_env, context_length=4000)
    typed(repl, "/file mid.txt\r/context\r")
    shown = repl.out.getvalue()
    assert "alone" not in shown
    assert "with the attachments the request is over the window: /file rm N" in shown


def test_context_counts_images_and_forgets_attachments_once_sent(cli_env, server, files):
    repl = open_repl(cli_env, context_length=8000)
    typed(repl, "/image dot.png\r/file a.txt\r/context\rhi\r/context\r")
    first, second = repl.out.getvalue().split("window 8k")[1:]
    assert re.search(r"^  attached ~\S+  1 file and 1 image \(/file\)$", first, re.MULTILINE)
    assert "attached" not in second
    assert server.chat_bodies()[-1]["messages"][-1]["content"][1]["type"] == "image_url"


def test_context_with_attachments_that_push_history_out_says_so(cli_env, server, files):
    server.script = smallctx_script  # counts prompts as a real server would
    (files / "mid.txt").write_text("lorem ipsum dolor sit amet\n" * 300)  # ~2k: fits alone
    repl = open_repl(cli_env, context_length=4000)
    typed(repl, "".join(f"question {i}: " + "tell me more. " * 30 + "\r" for i in range(8)))
    repl.out.truncate(0)
    repl.out.seek(0)
    typed(repl, "/file mid.txt\r/context\r")
    shown = repl.out.getvalue()
    assert re.search(r"^  history .* of 16 messages \(\d+ earlier left out", shown, re.M), shown
    assert "over the window" not in shown
