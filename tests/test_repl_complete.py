"""Tab in the REPL completes each slash command's arguments (prompt_toolkit's own API)."""

from __future__ import annotations

from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document

from aimlchat.commands.repl_complete import Sources, make_completer


def _complete(text: str, sources: Sources) -> list[str]:
    completer = make_completer(sources)
    doc = Document(text, len(text))
    return [
        c.text for c in completer.get_completions(doc, CompleteEvent(completion_requested=True))
    ]


SOURCES = Sources(
    commands=[("/model", "switch"), ("/load", "load"), ("/set", "set"), ("/save", "save")],
    models=lambda: ["meta-llama/llama-4-scout", "llama-4-scout", "openai/gpt-4o"],
    params=lambda: {"temperature": (), "reasoning_effort": ("low", "medium", "high")},
    conversations=lambda: ["work", "7"],
    roles=lambda: ["shell", "pirate"],
)


def test_slash_commands_complete_by_prefix():
    assert _complete("/s", SOURCES) == ["/set", "/save"]


def test_model_names_complete_by_prefix_then_substring():
    assert _complete("/model llama", SOURCES) == ["llama-4-scout", "meta-llama/llama-4-scout"]
    assert _complete("/model gpt", SOURCES) == ["openai/gpt-4o"]


def test_set_completes_names_then_enum_values():
    assert _complete("/set re", SOURCES) == ["reasoning_effort"]
    assert _complete("/set reasoning-effort m", SOURCES) == ["medium"]
    assert _complete("/set temperature ", SOURCES) == []


def test_load_and_role_complete_saved_names(tmp_path):
    assert _complete("/load w", SOURCES) == ["work"]
    assert _complete("/role p", Sources(roles=lambda: ["shell", "pirate"])) == ["pirate"]


def test_image_completes_paths(tmp_path, monkeypatch):
    (tmp_path / "photo.png").write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    assert _complete("/image pho", SOURCES) == ["to.png"]
