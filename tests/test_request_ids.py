"""Request ids: every chat request carries a valid `X-Client-Request-Id` (the API drops an
invalid one silently), named for the conversation and message it answers (or the batch
item), distinct for each HTTP request (tool steps, retries, the other API), echoed by
the server and stored beside the `x-inference-id` it sends back."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pexpect
import pytest

from aimlchat.api import aimlapi
from aimlchat.storage.store import Store
from tests.batch_helpers import results
from tests.conftest import invoke, run_cli
from tests.loopback import RESPONSES_ONLY, Reply, completion, sse_reply
from tests.loopback_tools import text_reply, tool_reply
from tests.test_tool_calls import declare

VALID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def _tag() -> str:
    """This process's part of every id (invoke() runs aimlchat in the test process)."""
    return aimlapi.run_tag()


def _sent(server: Any) -> list[str]:
    """The X-Client-Request-Id of each POST, in order (None when one had none)."""
    with server.lock:
        return [
            r["headers"].get("X-Client-Request-Id")
            for r in server.requests
            if r["method"] == "POST"
        ]


def _db(home: Path) -> Path:
    return home / "data" / "aimlchat" / "history.db"


def test_every_request_carries_a_valid_id_named_for_its_message(cli_env, server, home):
    invoke(["ask", "hi"], cli_env)
    invoke(["ask", "--continue", "again"], cli_env)
    first, second = _sent(server)
    user_ids = [m.id for m in Store(_db(home)).messages(1) if m.role == "user"]
    assert [first, second] == [f"aimlchat:c1:m{mid}:{_tag()}" for mid in user_ids]
    assert all(VALID.fullmatch(i) for i in (first, second))


def test_the_id_goes_in_a_header_never_in_the_body(cli_env, server):
    invoke(["ask", "hi"], cli_env)
    (sent,) = _sent(server)
    body = json.dumps(server.chat_bodies()[0])
    assert sent and sent not in body and _tag() not in body


def test_the_id_never_carries_the_prompt(cli_env, server, tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text("secretword\n")  # plain text: the item's id is its line number
    invoke(["batch", str(src), "-o", str(out)], cli_env)
    invoke(["ask", "secretword"], cli_env)
    invoke(["ask", "--no-history", "secretword"], cli_env)
    assert len(_sent(server)) == 3 and not any("secret" in i for i in _sent(server))


def test_without_history_the_id_is_a_random_run_id(cli_env, server):
    invoke(["ask", "--no-history", "hi"], cli_env)
    invoke(["ask", "--no-history", "hi"], cli_env)
    first, second = _sent(server)
    assert re.fullmatch(r"aimlchat:t0:[0-9a-f]{8}", first) and first != second


def test_each_tool_step_gets_its_own_id(cli_env, server, home):
    declare(home, weather={"code": "print('sunny')", "description": "Current weather"})
    server.push(tool_reply(("c1", "weather", "{}")), tool_reply(("c2", "weather", "{}")))
    server.push(text_reply("Sunny."))
    r = invoke(["ask", "-T", "weather", "--yes", "weather?"], cli_env)
    assert r.returncode == 0, r.stderr
    base = _sent(server)[0].removesuffix(f":{_tag()}")
    assert _sent(server) == [f"{base}{step}:{_tag()}" for step in ("", ":s1", ":s2")]


def test_a_retried_request_is_numbered(cli_env, server):
    server.push(
        Reply(status=503, body={"error": {"message": "busy"}}, headers={"Retry-After": "0"})
    )
    r = invoke(["ask", "hi"], cli_env)
    assert r.returncode == 0, r.stderr
    first, second = _sent(server)
    assert second == f"{first}.2" and VALID.fullmatch(second)


def test_the_fallback_to_responses_is_numbered(cli_env, server):
    server.push(Reply(status=400, body=RESPONSES_ONLY))
    r = invoke(["ask", "-m", "openai/gpt-5-5-pro", "hi"], cli_env)
    assert r.returncode == 0, r.stderr
    first, second = _sent(server)
    assert second == f"{first}.2"
    assert server.api_paths()[1].endswith("/responses")


def test_retry_in_chat_asks_under_a_new_id(cli_env, server):
    from tests.conftest import spawn

    child = spawn(["chat", "hi"], cli_env)
    child.expect_exact("Hello from the loopback server.")
    child.expect_exact("›")
    child.sendline("/retry")
    child.expect_exact("Hello from the loopback server.")
    child.expect_exact("›")
    child.sendeof()
    child.expect(pexpect.EOF)
    first, second = _sent(server)
    assert second == f"{first}:r2"


def test_the_echo_and_the_inference_id_are_stored_with_the_reply(cli_env, server, home):
    server.charges = "top"
    server.push(
        Reply(status=503, body={"error": {"message": "busy"}}, headers={"Retry-After": "0"})
    )
    invoke(["ask", "hi"], cli_env)
    reply = Store(_db(home)).messages(1)[-1]
    # The echo names the very request that answered: the retry's.
    assert reply.client_request_id == _sent(server)[1] and reply.client_request_id.endswith(".2")
    assert reply.inference_id == "inf-2"


def test_debug_shows_the_id(cli_env, server):
    r = invoke(["ask", "--debug", "hi"], cli_env)
    assert f"'X-Client-Request-Id': '{_sent(server)[0]}'" in r.stderr


def test_a_batch_item_is_traced_by_its_id_sanitised_and_cut(cli_env, server, tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    long = "é" + "x" * 300
    src.write_text(f'{{"id": "{long}", "prompt": "hi"}}\n{{"id": 7, "prompt": "hi"}}\n')
    r = invoke(["batch", str(src), "-o", str(out), "-j", "1"], cli_env)
    assert r.returncode == 0, r.stderr
    sent = _sent(server)
    assert all(VALID.fullmatch(i) for i in sent)
    assert sent[0].startswith("aimlchat:batch:-xxx") and len(sent[0]) <= 128
    assert sent[0].endswith(f"x:{_tag()}")  # the long id is cut, never the run's part
    assert sent[1] == f"aimlchat:batch:7:{_tag()}"
    assert {rec["client_request_id"] for rec in results(out)} == set(sent)


def test_a_retried_batch_item_is_numbered(cli_env, server, tmp_path):
    server.push(
        Reply(status=503, body={"error": {"message": "busy"}}, headers={"Retry-After": "0"})
    )
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text('{"id": "q1", "prompt": "hi"}\n')
    r = invoke(["batch", str(src), "-o", str(out)], cli_env)
    assert r.returncode == 0, r.stderr
    assert _sent(server) == [f"aimlchat:batch:q1:{_tag()}", f"aimlchat:batch:q1:{_tag()}.2"]


@pytest.mark.parametrize(
    ("pieces", "expected"),
    [
        (("aimlchat", "c42", "m317"), "aimlchat:c42:m317:k3f9"),
        (("aimlchat", "batch", "order #5/é"), "aimlchat:batch:order-5-:k3f9"),
        (("aimlchat", "batch", ""), "aimlchat:batch:k3f9"),
        (("", ""), "aimlchat:k3f9"),
    ],
)
def test_request_ids_are_sanitised(pieces, expected):
    assert aimlapi.request_id(*pieces, run="k3f9") == expected


def test_every_id_ends_with_this_processs_tag_made_once():
    tag = aimlapi.run_tag()
    assert re.fullmatch(r"[0-9a-f]{6}", tag) and aimlapi.run_tag() == tag
    assert aimlapi.request_id("aimlchat", "c1", "m2") == f"aimlchat:c1:m2:{tag}"


def test_a_cut_id_keeps_its_suffixes():
    base = aimlapi.request_id("aimlchat", "batch", "x" * 500, run="k3f9")
    assert base.endswith("x:k3f9")
    again = aimlapi.resent_id(f"{base}:r12", 1000)
    assert again.endswith("x:k3f9:r12.1000") and aimlapi.valid_request_id(again)


def test_a_foreign_id_is_made_valid_and_a_valid_one_kept():
    assert aimlapi.sendable_id("aimlchat:c1:m2:k3f9:r2") == "aimlchat:c1:m2:k3f9:r2"
    made = aimlapi.sendable_id("a b/é" * 40)
    assert aimlapi.valid_request_id(made) and len(made) <= 112 and made.startswith("a-b-")
    assert re.fullmatch(r"aimlchat:[0-9a-f]{8}", aimlapi.sendable_id(None))


def test_batch_ids_differ_from_run_to_run(cli_env, server, tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text("hi\n")
    for out in ("a.jsonl", "b.jsonl"):
        r = run_cli(["batch", str(src), "-o", str(tmp_path / out)], cli_env)
        assert r.returncode == 0, r.stderr
    first, second = _sent(server)
    assert first.startswith("aimlchat:batch:1:") and second.startswith("aimlchat:batch:1:")
    assert first != second


def test_retry_errors_asks_again_under_a_new_id(cli_env, server, tmp_path):
    server.push(Reply(status=400, body={"error": {"message": "bad"}}))
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text('{"id": "q1", "prompt": "hi"}\n')
    assert run_cli(["batch", str(src), "-o", str(out)], cli_env).returncode == 1
    r = run_cli(["batch", str(src), "-o", str(out), "--retry-errors"], cli_env)
    assert r.returncode == 0, r.stderr
    first, second = _sent(server)
    assert first.startswith("aimlchat:batch:q1:") and second.startswith("aimlchat:batch:q1:")
    assert first != second and not second.endswith(".2")


def test_retry_in_a_new_chat_process_is_a_new_id(cli_env, server):
    from tests.conftest import spawn

    invoke(["ask", "hi"], cli_env)
    child = spawn(["chat", "--continue"], cli_env)
    child.expect_exact("›")
    child.sendline("/retry")
    child.expect_exact("Hello from the loopback server.")
    child.expect_exact("›")
    child.sendeof()
    child.expect(pexpect.EOF)
    first, second = _sent(server)
    assert first.endswith(f":{_tag()}") and second.startswith(first.removesuffix(_tag()))
    assert second != first


def test_a_long_id_leaves_room_for_the_resend_suffix():
    base = aimlapi.request_id("aimlchat", "batch", "x" * 500)
    assert aimlapi.valid_request_id(base)
    for attempt in (1, 2, 10, 1000):
        assert aimlapi.valid_request_id(aimlapi.resent_id(base, attempt))
    assert aimlapi.resent_id(base, 3).endswith(".3")


def test_a_server_that_does_not_echo_still_gets_the_sent_id_stored(cli_env, server, home):
    server.push(Reply(body=completion("Hi.")))
    invoke(["ask", "--no-stream", "hi"], cli_env)
    reply = Store(_db(home)).messages(1)[-1]
    assert reply.client_request_id == _sent(server)[0] and reply.inference_id is None


def test_a_reply_cut_short_keeps_the_echo_of_the_very_request(cli_env, server, home):
    server.charges = "top"
    server.push(
        Reply(status=503, body={"error": {"message": "busy"}}, headers={"Retry-After": "0"})
    )
    server.push(Reply(events=sse_reply(["Hel", "lo"]), drop_after=2))
    r = invoke(["ask", "hi"], cli_env)
    assert r.returncode == 4, r.stderr
    reply = Store(_db(home)).messages(1)[-1]
    assert reply.status == "incomplete" and reply.message.text == "Hello"
    assert reply.client_request_id == _sent(server)[1] and reply.client_request_id.endswith(".2")


def test_batch_help_names_every_field_of_an_out_line(cli_env):
    r = run_cli(["batch", "--help"], cli_env)
    assert r.returncode == 0
    text = " ".join(r.stdout.decode().split())
    fields = '"cost", "cost_source", "inference_id", "client_request_id", "model", "error"'
    assert fields in text


def test_the_run_tag_is_one_even_when_threads_ask_at_once():
    import threading

    from aimlchat.api import aimlapi

    aimlapi._TAG.clear()
    start = threading.Barrier(8)
    tags: list[str] = []

    def ask() -> None:
        start.wait()
        tags.append(aimlapi.run_tag())

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(tags)) == 1
