"""A conversation is kept in neutral messages (aimlchat.messages): a reply keeps its
thinking and its sources, which history stores and no request sends back; a turn is
sent as a `ChatRequest` to the API its settings name; and nothing above `api/` writes
a wire field name. Loopback server, real store rows."""

from __future__ import annotations

import ast
from pathlib import Path

import aimlchat
from aimlchat.api.client import Client
from aimlchat.chat.session import Chat
from aimlchat.chat.transcript import TurnSettings
from aimlchat.messages import Citation, user
from aimlchat.storage.store import Store
from tests.conftest import invoke
from tests.loopback import LoopbackServer, Reply, responses_stream
from tests.loopback_tools import text_reply
from tests.test_citations import ANSWER, EXPECTED, cited_stream
from tests.test_context_window import open_repl

PACKAGE = Path(aimlchat.__file__).parent
# Field names of the APIs' wire shapes: only api/ may know them.
WIRE_NAMES = {
    "tool_calls",
    "tool_call_id",
    "image_url",
    "response_format",
    "json_schema",
    "stream_options",
    "web_search_options",
    "max_output_tokens",
    "url_citation",
    "annotations",
    "reasoning_content",
    "function_call_output",
}
# A batch record's params are body fields the record format documents by their Chat
# Completions names: its own output format (sent as written, batch.request.OWN_FORMAT),
# and the fields it may not set.
ALLOWED = {
    ("batch/request.py", "response_format"),
    ("batch/records.py", "response_format"),
    ("batch/records.py", "stream_options"),
}


class Quiet:
    def feed(self, text: str) -> None:
        pass

    def finish(self, *, status: str | None = None) -> None:
        pass


def test_a_cited_reply_keeps_its_sources_in_history_and_never_sends_them_back(
    cli_env, server, home
):
    server.push(Reply(events=cited_stream()))
    assert invoke(["ask", "what is new in rust"], cli_env).returncode == 0
    store = Store(home / "data" / "aimlchat" / "history.db")
    reply = store.messages(1)[-1].message
    assert (reply.role, reply.text, list(reply.citations)) == ("assistant", ANSWER, EXPECTED)

    server.push(text_reply("ok"))
    assert invoke(["ask", "-c", "and then?"], cli_env).returncode == 0
    assert server.chat_bodies()[-1]["messages"] == [
        {"role": "user", "content": "what is new in rust"},
        {"role": "assistant", "content": ANSWER},
        {"role": "user", "content": "and then?"},
    ]


def test_a_turn_goes_to_the_api_its_settings_name(server: LoopbackServer):
    client = Client(
        base_url=server.base_url, api_key="k", timeout=10, retries=0, notice=lambda s: None
    )
    server.push(Reply(events=responses_stream(["Hi", " there."])))
    chat = Chat(client, TurnSettings(model="m", api="responses"), store=None, warn=print)
    result = chat.send(user("hello"), Quiet())
    assert result.text == "Hi there."
    assert server.api_paths() == ["/v1/responses"]
    server.push(text_reply("ok"))
    Chat(client, TurnSettings(model="m"), store=None, warn=print).send(user("hi"), Quiet())
    assert server.api_paths()[-1] == "/v1/chat/completions"  # no choice: Chat Completions


def test_load_keeps_the_sessions_output_format(cli_env, server):
    repl, _ = open_repl(cli_env, format="json")
    server.push(text_reply('{"a": 1}'))
    repl.handle("first")
    server.push(text_reply('{"b": 2}'))
    repl.handle("/load 1")
    repl.handle("again")
    bodies = server.chat_bodies()
    assert [b.get("response_format") for b in bodies] == [{"type": "json_object"}] * 2
    assert [m["content"] for m in bodies[-1]["messages"]] == ["first", '{"a": 1}', "again"]


def test_a_stored_citation_is_a_neutral_part_not_an_annotation():
    # The reply message history keeps: a Citation part beside the text, in our JSON.
    from aimlchat.messages import assistant, parts_json

    cited = assistant("x", citations=[Citation("https://a.example", "A", 0, 1)])
    assert parts_json(cited)[1] == {
        "type": "citation",
        "url": "https://a.example",
        "title": "A",
        "start": 0,
        "end": 1,
    }


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_the_tool_loop_never_imports_the_session():
    # session runs the tool loop; the loop gets the reply step and the saver as callables
    # (even under TYPE_CHECKING: a cycle there is one a refactor turns into a real one).
    assert not any(
        name.startswith("aimlchat.chat.session") for name in _imports(PACKAGE / "chat/toolloop.py")
    )


def test_no_wire_field_name_is_written_above_the_api_layer():
    found = []
    for folder in ("chat", "tools", "commands", "batch"):
        for path in sorted((PACKAGE / folder).glob("*.py")):
            where = f"{folder}/{path.name}"
            for node in ast.walk(ast.parse(path.read_text())):
                if (
                    isinstance(node, ast.Constant)
                    and node.value in WIRE_NAMES
                    and (where, node.value) not in ALLOWED
                ):
                    found.append(f"{where}:{node.lineno} {node.value!r}")
    assert found == []
