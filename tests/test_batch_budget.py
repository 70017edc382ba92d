"""`aimlchat batch --max-cost` holds for every model a record names: one without a price is
refused before any request, or, met on a stream, ends the batch there."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.batch_helpers import ids
from tests.conftest import invoke
from tests.loopback import BatchScript, LoopbackServer


def _jsonl(*records: dict[str, Any]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def _script(server: LoopbackServer) -> BatchScript:
    script = BatchScript(delay=0.0)
    server.script = script
    return script


def test_a_record_model_without_a_price_is_refused_before_any_request(
    tmp_path: Path, server: LoopbackServer, cli_env: dict[str, str]
) -> None:
    _script(server)
    src = tmp_path / "in.jsonl"
    src.write_text(
        _jsonl(
            {"id": 1, "prompt": "a"},
            {"id": 2, "prompt": "b", "model": "openai/gpt-4o"},
            {"id": 3, "prompt": "c", "model": "flux/schnell"},
        )
    )
    out = tmp_path / "out.jsonl"
    result = invoke(["batch", str(src), "-o", str(out), "--max-cost", "1"], cli_env)
    assert result.returncode == 2, result.stderr
    assert "--max-cost: the catalogue has no price for flux/schnell" in result.stderr
    assert server.chat_bodies() == [] and not out.exists()


def test_record_models_with_prices_are_fine_under_max_cost(
    tmp_path: Path, server: LoopbackServer, cli_env: dict[str, str]
) -> None:
    _script(server)
    src = tmp_path / "in.jsonl"
    src.write_text(
        _jsonl({"id": 1, "prompt": "a"}, {"id": 2, "prompt": "b", "model": "openai/gpt-4o"})
    )
    out = tmp_path / "out.jsonl"
    result = invoke(["batch", str(src), "-o", str(out), "--max-cost", "1"], cli_env)
    assert result.returncode == 0, result.stderr
    assert sorted(ids(out)) == [1, 2]


def test_an_unpriced_model_met_on_stdin_ends_the_batch_cleanly(
    tmp_path: Path, server: LoopbackServer, cli_env: dict[str, str]
) -> None:
    _script(server)
    records = [{"id": i, "prompt": f"p{i}"} for i in range(1, 4)]
    records.append({"id": 4, "prompt": "p4", "model": "no/such-model"})
    records += [{"id": i, "prompt": f"p{i}"} for i in range(5, 9)]
    out = tmp_path / "out.jsonl"
    args = ["batch", "-", "-o", str(out), "-j", "1", "--ordered", "--max-cost", "1"]
    result = invoke(args, cli_env, _jsonl(*records))
    assert result.returncode == 2, result.stderr
    assert "--max-cost: the catalogue has no price for no/such-model (input line 4)" in (
        result.stderr
    )
    # Like a spent budget: the requests out are let finish and written, nothing more goes.
    asked = [body["messages"][-1]["content"] for body in server.chat_bodies()]
    assert set(asked) <= {"p1", "p2", "p3"}
    assert sorted(ids(out)) == sorted(int(p[1:]) for p in asked)
    assert f"{len(asked)} result" in result.stderr and "run the same command again" in (
        result.stderr
    )
