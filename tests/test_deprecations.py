"""Model lifecycle from the server's retirement feed (GET /v1/models/deprecations): a
deprecated model warned about once a day, a superseded one noted, a withdrawn one refused
before sending, a 404 explained, `models --deprecated`; the feed cached with its ETag and
fetched only beside the catalogue; a server without it degrades quietly."""

from __future__ import annotations

import io
import json
from pathlib import Path

from aimlchat.api.deprecations import advise, find, parse_feed
from tests.batch_helpers import results
from tests.conftest import invoke
from tests.loopback import Reply
from tests.loopback_deprecations import (
    DEPRECATED,
    SUPERSEDED,
    WITHDRAWN,
    default_deprecations,
    etag,
)

FEED = "/v1/models/deprecations"


def _feed_requests(server) -> list[dict]:
    return [r for r in server.requests if r["path"].split("?")[0] == FEED]


def _chat_requests(server) -> list[dict]:
    return [r for r in server.requests if r["method"] == "POST"]


def _cached_feed(cli_env) -> Path:
    (path,) = (Path(cli_env["XDG_CACHE_HOME"]) / "aimlchat").glob("deprecations-*.json")
    return path


def _age(path: Path, seconds: float) -> None:
    """Make the cached feed `seconds` older than it is."""
    obj = json.loads(path.read_text())
    obj["fetched_at"] -= seconds
    path.write_text(json.dumps(obj))


def _load_feed(cli_env) -> None:
    r = invoke(["models"], cli_env)
    assert r.returncode == 0, r.stderr


def _config(cli_env, text: str) -> None:
    path = Path(cli_env["XDG_CONFIG_HOME"]) / "aimlchat" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


# -- pure ---------------------------------------------------------------------------------


def test_the_feed_is_read_tolerantly_and_matched_by_id_and_alias():
    entries = parse_feed(
        {"data": [{"id": "a/x", "aliases": ["x", 3]}, {"aliases": ["no id"]}, "junk"]}
    )
    assert entries is not None and [e.id for e in entries] == ["a/x"]
    assert entries[0].aliases == ("x",) and entries[0].status == ""
    assert find(entries, "x") is entries[0] and find(entries, "A/X") is entries[0]
    assert find(entries, "y") is None
    assert advise(entries[0], "x") is None  # no status: listed, never acted on
    assert parse_feed({"object": "list"}) is None and parse_feed("<html>") is None


# -- what a matched model does ------------------------------------------------------------


def test_a_deprecated_model_warns_once_a_day_and_the_reply_goes_on(cli_env, server):
    _load_feed(cli_env)
    r = invoke(["ask", "-m", DEPRECATED, "hi"], cli_env)
    assert r.returncode == 0, r.stderr
    assert r.stdout  # the reply came
    (line,) = [x for x in r.stderr.splitlines() if "deprecated" in x]
    assert "warning" in line and "2026-09-30" in line and "openai/gpt-4o" in line
    # again today, by its alias: no second warning
    r = invoke(["ask", "-m", "gpt-4o-2024-05-13", "hi"], cli_env)
    assert r.returncode == 0 and "deprecated" not in r.stderr
    # a day later it warns again
    memory = Path(cli_env["XDG_CACHE_HOME"]) / "aimlchat" / "deprecation-warnings.json"
    data = json.loads(memory.read_text())
    data[server.base_url][DEPRECATED] = "2000-01-01"
    memory.write_text(json.dumps(data))
    r = invoke(["ask", "-m", DEPRECATED, "hi"], cli_env)
    assert r.returncode == 0 and "deprecated" in r.stderr


def test_a_superseded_model_gets_a_note_naming_what_it_resolves_to(cli_env, server):
    _load_feed(cli_env)
    r = invoke(["ask", "-m", "llama-3-70b", "hi"], cli_env)
    assert r.returncode == 0, r.stderr
    assert "superseded" in r.stderr and "meta-llama/Llama-3.3-70B-Instruct-Turbo" in r.stderr
    assert "warning" not in r.stderr
    assert _chat_requests(server)[-1]["json"]["model"] == "llama-3-70b"  # sent as asked


def test_a_withdrawn_model_is_refused_before_sending_naming_its_successor(cli_env, server):
    _load_feed(cli_env)
    for name in (WITHDRAWN, "gpt-4-0613"):  # by id and by alias
        r = invoke(["ask", "-m", name, "hi"], cli_env)
        assert r.returncode == 2, r.stderr
        assert "withdrawn on 2026-06-01" in r.stderr and "use -m openai/gpt-4o" in r.stderr
        assert "Traceback" not in r.stderr
    assert _chat_requests(server) == []


def test_a_config_default_naming_a_deprecated_model_is_warned_about_as_such(cli_env, server):
    _load_feed(cli_env)
    _config(cli_env, f'model = "{DEPRECATED}"\n')
    r = invoke(["ask", "hi"], cli_env)
    assert r.returncode == 0, r.stderr
    assert f"the default model {DEPRECATED} (config.toml) is deprecated" in r.stderr


def test_a_role_naming_a_withdrawn_model_is_refused_saying_what_to_change(cli_env, server):
    _load_feed(cli_env)
    _config(cli_env, f'[roles.old]\nsystem = "Be old."\nmodel = "{WITHDRAWN}"\n')
    r = invoke(["ask", "--role", "old", "hi"], cli_env)
    assert r.returncode == 2
    assert f"role old's model {WITHDRAWN} was withdrawn" in r.stderr
    assert 'set model = "openai/gpt-4o" in [roles.old]' in r.stderr
    assert _chat_requests(server) == []


def test_a_404_for_a_model_is_explained_from_the_feed(cli_env, server):
    # No feed cached yet: the ask sends first; the 404 fetches the feed to say why.
    server.push(Reply(status=404, body={"message": "Model not found", "statusCode": 404}))
    r = invoke(["ask", "-m", "gpt-4-0613", "hi"], cli_env)
    assert r.returncode == 1
    assert "HTTP 404: Model not found" in r.stderr
    assert "gpt-4-0613 was withdrawn on 2026-06-01" in r.stderr
    assert "use -m openai/gpt-4o" in r.stderr
    assert [r["method"] for r in server.requests] == ["POST", "GET"]
    # ...and the model is refused before sending from now on
    r = invoke(["ask", "-m", "gpt-4-0613", "hi"], cli_env)
    assert r.returncode == 2 and len(_chat_requests(server)) == 1


def test_a_404_for_a_model_the_feed_does_not_know_stays_as_it_was(cli_env, server):
    server.push(Reply(status=404, body={"message": "Model not found", "statusCode": 404}))
    r = invoke(["ask", "-m", "no/such-model", "hi"], cli_env)
    assert r.returncode == 1
    assert "HTTP 404: Model not found" in r.stderr and "withdrawn" not in r.stderr


# -- when the feed is asked for -----------------------------------------------------------


def test_a_plain_ask_with_no_cached_feed_sends_no_feed_request(cli_env, server):
    r = invoke(["ask", "hi"], cli_env)
    assert r.returncode == 0, r.stderr
    assert [r["method"] for r in server.requests] == ["POST"]


def test_the_feed_is_fetched_beside_the_catalogue_at_most_daily_and_revalidated(cli_env, server):
    _load_feed(cli_env)
    first = _feed_requests(server)
    assert len(first) == 1 and "If-None-Match" not in first[0]["headers"]
    _load_feed(cli_env)  # within the day: the catalogue is revalidated, the feed not asked
    assert len(_feed_requests(server)) == 1
    path = _cached_feed(cli_env)
    _age(path, 86400 + 60)
    _load_feed(cli_env)
    again = _feed_requests(server)
    assert len(again) == 2
    assert again[-1]["headers"]["If-None-Match"] == etag(default_deprecations())
    assert json.loads(path.read_text())["fetched_at"] > 0  # 304: kept, and fresh again
    _load_feed(cli_env)
    assert len(_feed_requests(server)) == 2
    r = invoke(["ask", "-m", DEPRECATED, "hi"], cli_env)  # the entries survived the 304
    assert "deprecated" in r.stderr


def test_a_changed_feed_is_seen_at_the_next_daily_revalidation(cli_env, server):
    _load_feed(cli_env)
    server.deprecations = [{**default_deprecations()[0], "id": "m/newly-retired"}]
    _age(_cached_feed(cli_env), 86400 + 60)
    _load_feed(cli_env)
    r = invoke(["ask", "-m", "m/newly-retired", "hi"], cli_env)
    assert r.returncode == 0 and "m/newly-retired is deprecated" in r.stderr


def test_a_server_without_the_feed_degrades_quietly_and_is_not_asked_again(cli_env, server):
    server.deprecations = None  # LiteLLM, llama.cpp, vLLM: 404
    _load_feed(cli_env)
    _load_feed(cli_env)
    assert len(_feed_requests(server)) == 1  # remembered as "none" for a day
    server.push(Reply(status=404, body={"message": "Model not found"}))
    r = invoke(["ask", "-m", WITHDRAWN, "hi"], cli_env)
    assert r.returncode == 1 and "HTTP 404" in r.stderr
    assert "withdrawn" not in r.stderr and "Traceback" not in r.stderr
    assert len(_feed_requests(server)) == 1  # not asked again after the 404 either
    r = invoke(["models", "--deprecated"], cli_env)
    assert r.returncode == 1 and "offers no model deprecation feed" in r.stderr


def test_a_feed_that_is_not_json_counts_as_none(cli_env, server):
    server.pages[FEED] = Reply(status=200, body="<html>app</html>", content_type="text/html")
    _load_feed(cli_env)
    r = invoke(["ask", "-m", DEPRECATED, "hi"], cli_env)
    assert r.returncode == 0 and "deprecated" not in r.stderr
    assert json.loads(_cached_feed(cli_env).read_text())["none"] is True


# -- models --deprecated ------------------------------------------------------------------


def test_models_deprecated_lists_the_feed_as_lines_json_and_a_table(cli_env, server):
    r = invoke(["models", "--deprecated"], cli_env)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.decode().splitlines()
    assert lines[0].split("\t") == ["ID", "STATUS", "SHUTDOWN", "REPLACED BY", "ALIASES"]
    rows = {line.split("\t")[0]: line.split("\t") for line in lines[1:]}
    assert rows[DEPRECATED][1:4] == ["deprecated", "2026-09-30", "openai/gpt-4o"]
    assert rows[SUPERSEDED][1] == "superseded" and rows[WITHDRAWN][1] == "withdrawn"
    r = invoke(["models", "--deprecated", "--json", "gpt-4"], cli_env)
    ids = [e["id"] for e in json.loads(r.stdout)]
    assert sorted(ids) == sorted([WITHDRAWN, DEPRECATED])
    r = invoke(["models", "--deprecated"], cli_env, stdout_tty=True)
    assert r.returncode == 0 and "REPLACED BY" in r.stdout.decode()
    assert DEPRECATED in r.stdout.decode()
    # asked explicitly: revalidated each time with the ETag
    assert _feed_requests(server)[-1]["headers"]["If-None-Match"] == etag(default_deprecations())
    r = invoke(["models", "--deprecated", "no-such"], cli_env)
    assert r.returncode == 1  # as grep: no match


# -- in chat: /model and /role ------------------------------------------------------------


def _repl(cli_env):
    from aimlchat.commands.repl import Repl
    from aimlchat.commands.runtime import App
    from aimlchat.settings.resolve import Flags
    from aimlchat.terminal.environment import Environment

    out, err = io.StringIO(), io.StringIO()
    env = Environment(stdin=io.StringIO(), stdout=out, stderr=err, environ=cli_env)
    app = App(Flags(no_history=True), env)
    return Repl(app, app.open_chat(stream=True), out.write), err


def test_slash_model_refuses_a_withdrawn_model_and_takes_a_retiring_one_warned(cli_env, server):
    _load_feed(cli_env)
    repl, err = _repl(cli_env)
    repl.handle(f"/model {WITHDRAWN}")
    assert f"model {WITHDRAWN} was withdrawn on 2026-06-01" in err.getvalue()
    assert repl.chat.settings.model == "meta-llama/llama-4-scout"
    # Not in the catalogue any more, but the feed knows it: switched, with one warning.
    repl.handle(f"/model {DEPRECATED}")
    assert repl.chat.settings.model == DEPRECATED
    assert err.getvalue().count("is deprecated") == 1
    assert "not in the cached model list" not in err.getvalue()


def test_slash_role_naming_a_withdrawn_model_is_refused(cli_env, server):
    _load_feed(cli_env)
    _config(cli_env, f'[roles.old]\nsystem = "Be old."\nmodel = "{WITHDRAWN}"\n')
    repl, err = _repl(cli_env)
    repl.handle("/role old")
    assert f"role old's model {WITHDRAWN} was withdrawn" in err.getvalue()
    assert repl.chat.settings.model == "meta-llama/llama-4-scout"


def test_a_resumed_conversation_on_a_withdrawn_model_is_refused_unless_m_says(cli_env, server):
    assert invoke(["ask", "-m", "m/old", "hi"], cli_env).returncode == 0
    server.deprecations = [
        {"id": "m/old", "status": "withdrawn", "shutdown_at": "2026-06-01", "replaced_by": "m/new"}
    ]
    _load_feed(cli_env)
    r = invoke(["ask", "--continue", "again"], cli_env)
    assert r.returncode == 2 and "model m/old was withdrawn" in r.stderr
    assert len(_chat_requests(server)) == 1
    r = invoke(["ask", "--continue", "-m", "m/new", "again"], cli_env)
    assert r.returncode == 0, r.stderr
    assert _chat_requests(server)[-1]["json"]["model"] == "m/new"


# -- batch ---------------------------------------------------------------------------------


def _batch_in(tmp_path: Path, *records: dict) -> tuple[Path, Path]:
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in records))
    return src, out


def test_batch_refuses_a_withdrawn_model_before_it_starts(cli_env, server, tmp_path):
    _load_feed(cli_env)
    src, out = _batch_in(tmp_path, {"id": "a", "prompt": "hi"})
    r = invoke(["batch", str(src), "-o", str(out), "-m", WITHDRAWN], cli_env)
    assert r.returncode == 2, r.stderr
    assert "withdrawn on 2026-06-01" in r.stderr and "use -m openai/gpt-4o" in r.stderr
    assert _chat_requests(server) == [] and not out.exists()


def test_batch_warns_once_about_a_deprecated_model_and_goes_on(cli_env, server, tmp_path):
    _load_feed(cli_env)
    src, out = _batch_in(tmp_path, {"id": "a", "prompt": "hi"}, {"id": "b", "prompt": "hi"})
    r = invoke(["batch", str(src), "-o", str(out), "-m", DEPRECATED], cli_env)
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("is deprecated") == 1 and len(_chat_requests(server)) == 2


def test_a_records_withdrawn_model_is_its_items_error_and_never_sent(cli_env, server, tmp_path):
    _load_feed(cli_env)
    src, out = _batch_in(
        tmp_path,
        {"id": "a", "prompt": "hi", "model": "gpt-4-0613"},
        {"id": "b", "prompt": "hi", "model": DEPRECATED},
        {"id": "c", "prompt": "hi", "model": DEPRECATED},
    )
    r = invoke(["batch", str(src), "-o", str(out), "-j", "1"], cli_env)
    assert r.returncode == 1, r.stderr
    by_id = {rec["id"]: rec for rec in results(out)}
    error = by_id["a"]["error"]
    assert "the record's model gpt-4-0613 was withdrawn on 2026-06-01" in error["message"]
    assert '"model": "openai/gpt-4o" in the record' in error["message"]
    assert error["exit_code"] == 2
    assert by_id["b"]["error"] is None and by_id["c"]["error"] is None
    assert [q["json"]["model"] for q in _chat_requests(server)] == [DEPRECATED, DEPRECATED]
    assert r.stderr.count(f"the record's model {DEPRECATED} is deprecated") == 1


def test_a_404_in_a_batch_is_explained_from_the_feed(cli_env, server, tmp_path):
    server.deprecations = []  # the cached feed knows nothing of it yet...
    _load_feed(cli_env)
    server.deprecations = default_deprecations()  # ...the server's does
    _age(_cached_feed(cli_env), 600)
    server.push(Reply(status=404, body={"message": "Model not found", "statusCode": 404}))
    src, out = _batch_in(tmp_path, {"id": "a", "prompt": "hi", "model": "gpt-4-0613"})
    r = invoke(["batch", str(src), "-o", str(out)], cli_env)
    assert r.returncode == 1, r.stderr
    (rec,) = results(out)
    assert "HTTP 404: Model not found" in rec["error"]["message"]
    assert "gpt-4-0613 was withdrawn on 2026-06-01" in rec["error"]["message"]
    assert "openai/gpt-4o" in rec["error"]["message"]
    assert len(_feed_requests(server)) == 2 and len(_chat_requests(server)) == 1


# -- a 404's feed request ------------------------------------------------------------------


def test_a_404_asks_the_feed_once_and_remembers_that_it_could_not_answer(cli_env, server):
    busy = {"error": {"message": "busy"}}
    server.pages[FEED] = Reply(status=503, body=busy, headers={"Retry-After": "0"})
    for _ in range(2):
        server.push(Reply(status=404, body={"message": "Model not found", "statusCode": 404}))
        r = invoke(["ask", "-m", "gpt-4-0613", "hi"], cli_env)
        assert r.returncode == 1 and "HTTP 404: Model not found" in r.stderr
        assert "Traceback" not in r.stderr
    # One attempt, no retries; and the second 404 did not ask again so soon.
    assert len(_feed_requests(server)) == 1
    del server.pages[FEED]
    r = invoke(["models", "--deprecated"], cli_env)  # asked for: asked at once
    assert r.returncode == 0 and len(_feed_requests(server)) == 2


def test_the_feed_asked_for_a_404_waits_briefly_and_the_client_is_left_as_it_was():
    from aimlchat.api.client import QUICK_TIMEOUT, Client, ModelsResponse

    client = Client(base_url="http://127.0.0.1:9/v1", api_key=None, timeout=60.0, retries=3,
                    notice=lambda text: None)  # fmt: skip
    http = client.transport
    seen = []

    def revalidated(path, etag, params=None):
        seen.append((http.timeout, http.connect_timeout, http.idle_timeout, http.policy.retries))
        return ModelsResponse(200, None, [])

    client._revalidated = revalidated  # type: ignore[method-assign]
    client.quick_deprecations(None)
    assert seen == [(QUICK_TIMEOUT, QUICK_TIMEOUT, QUICK_TIMEOUT, 0)] and QUICK_TIMEOUT <= 5
    assert (http.timeout, http.policy.retries) == (60.0, 3)


def test_models_deprecated_on_a_pipe_keeps_a_servers_strings_in_their_columns(cli_env, server):
    server.deprecations = [
        {
            "id": "m/x\tevil",
            "aliases": ["p\rq", "r\ns"],
            "status": "deprecated\nforged\tline",
            "shutdown_at": "2026-09-30\x1b[2J",
            "replaced_by": "m/\x1b]52;c;aGk=\x07new",
        }
    ]
    r = invoke(["models", "--deprecated"], cli_env)
    assert r.returncode == 0, r.stderr
    text = r.stdout.decode()
    lines = text.splitlines()
    assert len(lines) == 2 and all(len(line.split("\t")) == 5 for line in lines)
    assert not any(c in text for c in "\r\x1b\x07")
    assert lines[1].split("\t")[0] == "m/x evil"


def test_a_shutdown_date_gone_by_is_told_in_the_past_tense():
    from aimlchat.api.deprecations import Entry

    entry = Entry("m/old", status="deprecated", shutdown_at="2026-09-30", replaced_by="m/new")
    past = advise(entry, "m/old", today="2026-12-06")
    assert past is not None and past.kind == "warn"
    assert "was due to shut down on 2026-09-30; requests may fail" in past.text
    coming = advise(entry, "m/old", today="2026-09-01")
    assert coming is not None and "shuts down on 2026-09-30" in coming.text
    assert "was due" not in coming.text


def test_a_deprecated_model_past_its_shutdown_warns_in_the_past_tense(cli_env, server):
    server.deprecations = [
        {
            "id": "m/late",
            "status": "deprecated",
            "shutdown_at": "2001-01-01",
            "replaced_by": "m/new",
        }
    ]
    _load_feed(cli_env)
    r = invoke(["ask", "-m", "m/late", "hi"], cli_env)
    assert r.returncode == 0, r.stderr
    assert "model m/late is deprecated and was due to shut down on 2001-01-01" in r.stderr


def test_a_records_model_with_spaces_around_it_is_the_model_and_its_retirement(
    cli_env, server, tmp_path
):
    _load_feed(cli_env)
    src, out = _batch_in(tmp_path, {"id": "a", "prompt": "hi", "model": " gpt-4-0613 "})
    r = invoke(["batch", str(src), "-o", str(out)], cli_env)
    assert r.returncode == 1, r.stderr
    [record] = results(out)
    assert "gpt-4-0613 was withdrawn" in record["error"]["message"]
    assert _chat_requests(server) == []
