"""The exact charge of every reply: read from a stream's last chunk (both APIs), a whole
reply's headers or a body's `meta.usage`, and used wherever cost appears (--usage, the
NDJSON usage event, history, export, batch records, chat's /cost); the catalogue's
estimate only when the API sent no charge, and marked as one. Against the loopback
server with the AI/ML API's charges on (`server.charges`), and without (another server)."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import pexpect
import pytest

from aimlchat.api import aimlapi
from aimlchat.messages import Cost, user
from aimlchat.money import usd
from aimlchat.storage.store import Store
from tests.batch_helpers import results
from tests.conftest import invoke, spawn
from tests.loopback import Reply, chunk, completion, responses_body, responses_stream, sse_reply
from tests.loopback_charges import meta

CHARGE = "$0.00124"
PRICED = "~$0.000005"  # 10 prompt + 5 completion tokens at the loopback catalogue's prices


def _db(home: Path) -> Path:
    return home / "data" / "aimlchat" / "history.db"


def _ask(cli_env: dict[str, str], *args: str) -> Any:
    r = invoke(["ask", "--usage", *args], cli_env)
    assert r.returncode == 0, r.stderr
    return r


# -- reading the charge --------------------------------------------------------------------


def test_a_streamed_chat_reply_costs_what_its_last_chunk_says(cli_env, server):
    server.charges = "top"
    invoke(["models"], cli_env)  # prices known: the charge still wins over them
    r = _ask(cli_env, "hi")
    assert r.stdout == b"Hello from the loopback server.\n"
    assert f"cost {CHARGE}" in r.stderr and "~$" not in r.stderr
    assert server.chat_bodies()[0]["stream"] is True


@pytest.mark.parametrize("shape", ["top", "nested"])
def test_a_streamed_responses_reply_costs_what_its_last_event_says(cli_env, server, shape):
    server.charges = shape
    r = _ask(cli_env, "--api", "responses", "hi")
    assert r.stdout == b"Hello from the loopback server.\n"
    assert f"cost {CHARGE}" in r.stderr
    assert server.responses_bodies()[0]["stream"] is True


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_a_whole_reply_costs_what_its_headers_say(cli_env, server, api):
    server.charges = "top"
    server.charge_usd = 0.0042
    r = _ask(cli_env, "--api", api, "--no-stream", "hi")
    assert "cost $0.0042" in r.stderr and "~$" not in r.stderr


@pytest.mark.parametrize(
    "body",
    [
        {**completion("Charged."), "meta": meta(0.002)},
        {**responses_body("Charged."), "meta": meta(0.002)},
    ],
    ids=["chat", "responses"],
)
def test_a_whole_body_says_its_cost_in_meta_usage(cli_env, server, body):
    server.push(Reply(body=body))
    api = "responses" if "output" in body else "chat"
    r = _ask(cli_env, "--api", api, "--no-stream", "hi")
    assert r.stdout == b"Charged.\n"
    assert "cost $0.002" in r.stderr and "~$" not in r.stderr


def test_json_prints_the_body_with_its_meta_usage(cli_env, server):
    server.push(Reply(body={**completion("Charged."), "meta": meta(0.002)}))
    r = invoke(["ask", "--json", "hi"], cli_env)
    assert json.loads(r.stdout)["meta"] == {"usage": {"credits_used": 2480, "usd_spent": 0.002}}


def test_a_charge_in_a_chunk_after_the_usage_still_counts(cli_env, server):
    events = [chunk("Hi."), chunk(finish="stop")]
    events.append(chunk(empty_choices=True, usage={"prompt_tokens": 3, "completion_tokens": 1}))
    late = json.loads(chunk(empty_choices=True)[len("data: ") :])
    events += [f"data: {json.dumps({**late, 'meta': meta(0.0007)})}\n\n", "data: [DONE]\n\n"]
    server.push(Reply(events=events))
    r = _ask(cli_env, "hi")
    assert "cost $0.0007" in r.stderr


# -- the estimate, marked ------------------------------------------------------------------


def test_a_server_that_sends_no_charge_gets_the_estimate_marked_with_a_tilde(cli_env, server):
    invoke(["models"], cli_env)
    r = _ask(cli_env, "hi")
    assert f"cost {PRICED}" in r.stderr


def test_no_charge_and_no_price_is_cost_unknown(cli_env, server):
    r = _ask(cli_env, "hi")
    assert "cost unknown" in r.stderr and "$" not in r.stderr


@pytest.mark.parametrize(
    "usage",
    [
        {"usd_spent": "lots", "credits_used": "many"},
        {"usd_spent": -1, "credits_used": -5},
        {"usd_spent": float("nan")},
        {"usd_spent": float("inf")},
        {"usd_spent": None},
        {"usd_spent": True},
        {"usd_spent": [0.1]},
        "not an object",
    ],
)
def test_a_garbage_charge_in_the_stream_is_ignored_for_the_estimate(cli_env, server, usage):
    invoke(["models"], cli_env)
    events = [chunk("Hi."), chunk(finish="stop")]
    tokens = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
    usage_chunk = json.loads(chunk(empty_choices=True, usage=tokens)[len("data: ") :])
    usage_chunk["meta"] = {"usage": usage}
    events += [f"data: {json.dumps(usage_chunk)}\n\n", "data: [DONE]\n\n"]
    server.push(Reply(events=events))
    r = _ask(cli_env, "hi")
    assert "Traceback" not in r.stderr
    assert f"cost {PRICED}" in r.stderr


@pytest.mark.parametrize("value", ["", "abc", "-0.5", "nan", "1e999", "0x10", "\u00bd"])
def test_a_garbage_cost_header_is_ignored_for_the_estimate(cli_env, server, value):
    invoke(["models"], cli_env)
    server.push(Reply(body=completion("Hi."), headers={"x-aimlapi-usd-spent": value}))
    r = _ask(cli_env, "--no-stream", "hi")
    assert "Traceback" not in r.stderr
    assert f"cost {PRICED}" in r.stderr


def test_the_readers_take_strings_and_numbers_and_refuse_the_rest():
    assert aimlapi.header_charge({"X-Aimlapi-Usd-Spent": "0.001240000"}) == (
        aimlapi.header_charge({"x-aimlapi-usd-spent": "0.00124"})
    )
    charge = aimlapi.meta_charge({"meta": {"usage": {"usd_spent": "0.5", "credits_used": 10.0}}})
    assert charge is not None and charge.usd == 0.5 and charge.credits == 10
    nested = aimlapi.meta_charge({"type": "x", "response": {"meta": {"usage": {"usd_spent": 1}}}})
    assert nested is not None and nested.usd == 1.0
    for garbage in (None, [], {"meta": []}, {"meta": {"usage": 3}}, {"response": "x"}):
        assert aimlapi.meta_charge(garbage) is None
    assert aimlapi.meta_charge({"meta": {"usage": {"usd_spent": math.nan}}}) is None
    assert aimlapi.inference_id({"x-inference-id": "a\x1b[2Jb"}) is None


def test_cost_text_marks_an_estimate():
    assert Cost(0.00124).text() == "$0.00124"
    assert Cost(0.0003, "estimate").text() == "~$0.0003"
    assert Cost(0.1).text() == "$0.10" and Cost(2.5).text() == "$2.50"


def test_every_cost_is_shown_by_the_one_formatter():
    from aimlchat.batch.progress import Stats, live_line
    from aimlchat.commands.usage import _money

    assert usd(0.00124) == Cost(0.00124).text() == _money(0.00124) == "$0.00124"
    assert usd(0.000005) == "$0.000005" and usd(0.3) == "$0.30" and usd(1234.5) == "$1,234.50"
    assert usd(0) == _money(0.0) == "$0.00" and usd(-1e-9) == "$0.00"  # never "$-0"
    assert _money(-0.5) == "-$0.50" and _money(0.5, "EUR") == "0.50 EUR"
    assert usd(0.0003, estimate=True) == "~$0.0003"
    assert live_line(Stats(done=1, priced=1, cost=0.00248), now=1.0).endswith("· $0.00248")


# -- NDJSON ---------------------------------------------------------------------------------


def test_the_ndjson_usage_event_carries_the_charge_and_its_ids(cli_env, server):
    server.charges = "top"
    r = invoke(["ask", "--ndjson", "hi"], cli_env)
    events = [json.loads(line) for line in r.stdout.decode().splitlines()]
    assert [e["type"] for e in events] == ["delta"] * 5 + ["finish", "usage"]
    usage = events[-1]
    assert usage["cost"] == 0.00124 and usage["cost_source"] == "api"
    assert usage["inference_id"] == "inf-1"
    assert usage["prompt_tokens"] == 10 and usage["total_tokens"] == 15
    assert usage["client_request_id"].startswith("aimlchat:c1:m")


def test_the_ndjson_usage_event_says_when_the_cost_is_an_estimate(cli_env, server):
    invoke(["models"], cli_env)
    r = invoke(["ask", "--ndjson", "hi"], cli_env)
    usage = json.loads(r.stdout.decode().splitlines()[-1])
    assert usage["type"] == "usage" and usage["cost_source"] == "estimate"
    assert usage["cost"] == pytest.approx(5.04e-6) and usage["inference_id"] is None


# -- history ----------------------------------------------------------------------------------


def test_history_keeps_each_replys_charge_and_ids(cli_env, server, home):
    server.charges = "top"
    _ask(cli_env, "hi")
    rows = Store(_db(home)).messages(1)
    reply = rows[-1]
    assert reply.cost == Cost(0.00124, "api")
    assert reply.inference_id == "inf-1"
    assert reply.client_request_id == f"aimlchat:c1:m{rows[0].id}:{aimlapi.run_tag()}"
    assert rows[0].cost is None  # the user's message cost nothing by itself


def test_history_list_shows_each_conversations_cost_estimates_marked(cli_env, server, home):
    invoke(["models"], cli_env)
    server.charges = "top"
    _ask(cli_env, "one")
    _ask(cli_env, "--continue", "two")  # 2 charges: $0.00248
    server.charges = None
    _ask(cli_env, "three")  # an estimate
    r = invoke(["history", "list"], cli_env)
    lines = r.stdout.decode().splitlines()
    assert "$0.00248" in lines[1] and "~" not in lines[1]  # newest first
    assert PRICED in lines[0]


def test_history_show_ids_prints_each_replys_ids(cli_env, server):
    server.charges = "top"
    _ask(cli_env, "hi")
    plain = invoke(["history", "show"], cli_env).stdout.decode()
    assert "inf-1" not in plain
    shown = invoke(["history", "show", "--ids"], cli_env).stdout.decode()
    assert "cost $0.00124 · inference id inf-1 · client request id aimlchat:c1:m" in shown


def test_export_carries_the_cost_its_source_and_both_ids(cli_env, server):
    server.charges = "top"
    _ask(cli_env, "hi")
    doc = json.loads(invoke(["history", "export", "-f", "json"], cli_env).stdout)
    reply = doc["messages"][-1]
    assert reply["cost"] == 0.00124 and reply["cost_source"] == "api"
    assert reply["inference_id"] == "inf-1"
    assert reply["client_request_id"].startswith("aimlchat:c1:m")
    assert "cost" not in doc["messages"][0]
    md = invoke(["history", "export", "-f", "md"], cli_env).stdout.decode()
    assert "cost $0.00124 (charged) · inference id inf-1 · client request id aimlchat:c1:m" in md


def test_spent_sums_every_conversations_costs_in_a_window(cli_env, server, home):
    invoke(["models"], cli_env)
    server.charges = "top"
    _ask(cli_env, "one")
    _ask(cli_env, "two")
    server.charges = None
    _ask(cli_env, "three")
    store = Store(_db(home))
    assert store.spent(time.time() - 3600) == 0.002485  # to the micro-dollar
    assert store.spent(time.time() + 3600) == 0.0
    assert store.spent(0, time.time() - 3600) == 0.0


def test_aimlchat_usage_shows_the_charges_history_recorded(cli_env, server):
    server.charges = "top"
    _ask(cli_env, "one")
    _ask(cli_env, "two")
    r = invoke(["usage", "--json"], cli_env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["history"]["cost"] == pytest.approx(0.00248)
    shown = invoke(["usage"], cli_env, stdout_tty=True).stdout.decode()
    assert "$0.00248 charged (estimates left out)" in shown  # what it sums, said


def test_a_database_from_before_costs_gains_the_columns(home):
    import sqlite3

    from aimlchat.storage import migrations

    path = _db(home)
    path.parent.mkdir(parents=True)
    earlier = [m for m in migrations.MIGRATIONS if m.__name__ != "m008_message_cost"]
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA foreign_keys = OFF")
    db.execute("BEGIN")
    db.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)")
    for step in earlier:
        step(db)
        db.execute("INSERT INTO _migrations VALUES (?, 0)", (step.__name__,))
    db.execute("COMMIT")
    db.close()
    store = Store(path)
    cid = store.create(model="m", system=None)
    store.add(cid, user("hi"), cost=Cost(0.5))
    assert store.messages(cid)[0].cost == Cost(0.5)
    info = store.info(cid)
    assert info is not None and info.cost == Cost(0.5)


def test_a_read_only_database_from_before_costs_is_read_as_it_is(home, monkeypatch):
    import sqlite3

    from aimlchat.storage import connect, migrations

    path = _db(home)
    path.parent.mkdir(parents=True)
    monkeypatch.setattr(
        migrations, "MIGRATIONS", [m for m in migrations.MIGRATIONS if "m008" not in m.__name__]
    )
    store = Store(path)
    cid = store.create(model="m", system=None)
    store.close()
    monkeypatch.undo()
    db = sqlite3.connect(path)
    db.execute(
        "INSERT INTO messages(conversation_id, role, content, parts, created_at)"
        " VALUES (?, 'user', '\"hi\"', ?, 0)",
        (cid, migrations.encode_parts(user("hi"))),
    )
    db.commit()
    db.close()

    def refused(path: Path) -> sqlite3.Connection:
        raise sqlite3.OperationalError("attempt to write a readonly database")

    monkeypatch.setattr(connect, "open_writable", refused)
    store = Store(path)
    assert store.read_only is not None
    assert [m.message for m in store.messages(cid)] == [user("hi")]
    assert store.messages(cid)[0].cost is None
    assert store.conversations()[0].cost is None
    assert store.spent(0) == 0.0
    assert store.spend(0, time.time() + 1)[0].cost is None


# -- batch ------------------------------------------------------------------------------------


def test_batch_records_carry_the_charge_and_ids(cli_env, server, tmp_path):
    server.charges = "top"
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text('{"id": "a/b 1", "prompt": "hi"}\n')
    r = invoke(["batch", str(src), "-o", str(out)], cli_env)
    assert r.returncode == 0, r.stderr
    (record,) = results(out)
    assert record["cost"] == 0.00124 and record["cost_source"] == "api"
    assert record["inference_id"] == "inf-1"
    assert record["client_request_id"] == f"aimlchat:batch:a-b-1:{aimlapi.run_tag()}"


def test_batch_records_mark_an_estimate(cli_env, server, tmp_path):
    invoke(["models"], cli_env)
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text("hi\n")
    invoke(["batch", str(src), "-o", str(out)], cli_env)
    (record,) = results(out)
    assert record["cost"] == pytest.approx(5.04e-6) and record["cost_source"] == "estimate"
    assert record["inference_id"] is None
    assert record["client_request_id"] == f"aimlchat:batch:1:{aimlapi.run_tag()}"


# -- chat ---------------------------------------------------------------------------------------


def test_chat_cost_shows_the_running_total(cli_env, server):
    server.charges = "top"
    child = spawn(["chat", "hi"], cli_env)
    child.expect_exact("Hello from the loopback server.")
    child.expect_exact("›")
    child.sendline("again")
    child.expect_exact("Hello from the loopback server.")
    child.expect_exact("›")
    child.sendline("/cost")
    child.expect_exact("cost: $0.00248 · 2 replies")
    child.expect_exact("›")
    child.sendline("/usage")
    child.expect_exact("= 30 tokens · $0.00248")
    child.expect_exact("›")
    child.sendeof()
    child.expect(pexpect.EOF)


# -- --json carries the charge -------------------------------------------------------------


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_json_puts_a_whole_replys_header_charge_under_meta_usage(cli_env, server, api):
    server.charges = "top"
    r = invoke(["ask", "--json", "--api", api, "hi"], cli_env)
    assert r.returncode == 0, r.stderr
    obj = json.loads(r.stdout)
    assert obj["meta"] == {"usage": {"usd_spent": 0.00124, "credits_used": 2480}}


def test_json_of_a_streamed_reply_carries_its_last_chunks_charge(cli_env, server):
    server.charges = "top"  # the charge on the last chunk, none in the headers
    server.push(Reply(events=sse_reply(["Hi", "."])))  # a server that streams unasked
    r = invoke(["ask", "--json", "hi"], cli_env)
    assert r.returncode == 0, r.stderr
    obj = json.loads(r.stdout)
    assert obj["choices"][0]["message"]["content"] == "Hi."
    assert obj["meta"] == {"usage": {"usd_spent": 0.00124, "credits_used": 2480}}


def test_json_of_a_responses_stream_charged_on_its_last_event_carries_it(cli_env, server):
    server.charges = "top"  # at the top of the event, not inside its `response`
    server.push(Reply(events=responses_stream(["Hi."])))
    r = invoke(["ask", "--json", "--api", "responses", "hi"], cli_env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["meta"] == {"usage": {"usd_spent": 0.00124, "credits_used": 2480}}


def test_json_keeps_a_bodys_own_meta_usage_as_sent(cli_env, server):
    server.charges = "top"  # headers say 0.00124; the body's own word stands
    server.push(Reply(body={**completion("Charged."), "meta": meta(0.002)}))
    r = invoke(["ask", "--json", "hi"], cli_env)
    assert json.loads(r.stdout)["meta"] == {"usage": {"credits_used": 2480, "usd_spent": 0.002}}


@pytest.mark.parametrize("streamed", [False, True])
def test_json_without_a_charge_has_no_meta(cli_env, server, streamed):
    if streamed:
        server.push(Reply(events=sse_reply(["Hi."])))
    r = invoke(["ask", "--json", "hi"], cli_env)
    assert r.returncode == 0, r.stderr
    assert "meta" not in json.loads(r.stdout)
