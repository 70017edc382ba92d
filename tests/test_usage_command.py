"""`aimlchat usage`: the account's balance and spend (/v2/billing, /v2/usage[/detail])
beside what this machine's history recorded, and what it does on servers without them."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit

import pytest

from aimlchat.api import aimlapi
from tests.conftest import TEST_KEY, invoke
from tests.loopback import Reply
from tests.test_ecosystem import _loaded

OUT_OF_CREDITS = {
    "message": "You've run out of credits. Please top up your balance or update your payment "
    "method to continue: https://aimlapi.com/app/billing/",
    "path": "/v2/billing",
    "statusCode": 403,
}


def _account_requests(server):
    return [r for r in server.requests if r["path"].startswith("/v2/")]


def _query(request):
    return {k: v[0] for k, v in parse_qs(urlsplit(request["path"]).query).items()}


def _pairs(stdout: bytes) -> dict[str, str]:
    head = stdout.decode().split("\n\n")[0]
    return dict(line.split("\t", 1) for line in head.splitlines())


def _tsv(stdout: bytes) -> list[dict[str, str]]:
    table = stdout.decode().split("\n\n")[1].splitlines()
    header = table[0].split("\t")
    return [dict(zip(header, line.split("\t"), strict=True)) for line in table[1:]]


def _two_asks(cli_env):
    for prompt in ("hi", "hello"):
        assert invoke(["ask", prompt], cli_env).returncode == 0


def test_usage_shows_balance_and_api_spend_beside_history(cli_env, server):
    _two_asks(cli_env)
    r = invoke(["usage"], cli_env)
    assert r.returncode == 0, r.stderr
    got = _pairs(r.stdout)
    assert got["balance"] == "123.45" and got["currency"] == "USD"
    assert got["api_spend"] == "12.3456" and got["api_requests"] == "842"
    assert got["period"] == "7d"
    # The loopback's replies each say 10 tokens in, 1 per piece out (5 pieces).
    assert got["history_replies"] == "2"
    assert (got["history_prompt_tokens"], got["history_completion_tokens"]) == ("20", "10")
    assert got["history_cost"] == ""  # history records no charge yet: shown as unknown
    paths = [urlsplit(r["path"]).path for r in _account_requests(server)]
    assert paths == ["/v2/billing", "/v2/usage"]


def test_usage_on_a_terminal_reads_as_sentences(cli_env, server):
    _two_asks(cli_env)
    r = invoke(["usage"], cli_env, stdout_tty=True)
    out = r.stdout.decode()
    assert r.returncode == 0, r.stderr
    assert "balance    $123.45" in out
    assert "$12.35 · 842 requests" in out
    assert "2 replies · 20 tokens in, 10 out · no charge recorded" in out


def test_usage_by_model_sets_history_beside_each_model(cli_env, server):
    _two_asks(cli_env)
    r = invoke(["usage", "--by", "model"], cli_env)
    assert r.returncode == 0, r.stderr
    assert _query(_account_requests(server)[-1]) == {"period": "7d", "group_by": "model"}
    rows = {row["model"]: row for row in _tsv(r.stdout)}
    assert rows["openai/gpt-5"]["api_spend"] == "8.12"
    assert rows["openai/gpt-5"]["history_replies"] == ""  # never asked from here
    scout = rows["meta-llama/llama-4-scout"]
    assert (scout["api_requests"], scout["api_input_tokens"]) == ("342", "90100")
    assert (scout["history_replies"], scout["history_prompt_tokens"]) == ("2", "20")


def test_usage_by_model_on_a_terminal_is_a_table(cli_env, server):
    _two_asks(cli_env)
    r = invoke(["usage", "--by", "model"], {**cli_env, "COLUMNS": "120"}, stdout_tty=True)
    assert r.returncode == 0, r.stderr
    scout = next(line for line in r.stdout.decode().splitlines() if "llama-4-scout" in line)
    assert scout.split() == ["meta-llama/llama-4-scout", "$4.23", "342", "110,400", "2", "30"]


def test_usage_by_day_splits_on_utc_days(cli_env, server):
    _two_asks(cli_env)
    r = invoke(["usage", "--by", "day", "--period", "24h"], cli_env)
    assert r.returncode == 0, r.stderr
    assert _query(_account_requests(server)[-1]) == {"period": "24h", "group_by": "day"}
    today = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    rows = {row["day"]: row for row in _tsv(r.stdout)}
    assert rows[today]["history_replies"] == "2" and rows[today]["api_spend"] == "12.3456"


def test_a_model_only_history_knows_gets_a_row_of_its_own(cli_env, server):
    server.account["/v2/usage/detail"] = {"spend": 0, "requests": 0, "models": [], "groups": []}
    _two_asks(cli_env)
    r = invoke(["usage", "--by", "model", "--json"], cli_env)
    rows = json.loads(r.stdout)["rows"]
    assert rows == [
        {
            "model": "meta-llama/llama-4-scout",
            "api": None,
            "history": {"replies": 2, "prompt_tokens": 20, "completion_tokens": 10, "cost": None},
        }
    ]


@pytest.mark.parametrize("period", ["24h", "7d", "30d"])
def test_period_is_sent_as_asked(cli_env, server, period):
    r = invoke(["usage", "--period", period], cli_env)
    assert r.returncode == 0, r.stderr
    assert _query(_account_requests(server)[-1]) == {"period": period}


def test_since_until_sends_whole_utc_days(cli_env, server):
    r = invoke(["usage", "--since", "2026-07-01", "--until", "2026-07-31"], cli_env)
    assert r.returncode == 0, r.stderr
    query = _query(_account_requests(server)[-1])
    assert query == {"start": "2026-07-01T00:00:00Z", "end": "2026-08-01T00:00:00Z"}
    got = _pairs(r.stdout)
    assert got["period"] == "2026-07-01..2026-07-31"  # the days, as no period names them
    assert got["start"].startswith("2026-07-01T00:00:00")


def test_a_time_with_an_offset_is_sent_in_utc(cli_env, server):
    args = ["usage", "--since", "2026-07-01T09:00+03:00", "--until", "2026-07-02T09:00+03:00"]
    assert invoke(args, cli_env).returncode == 0
    query = _query(_account_requests(server)[-1])
    assert query == {"start": "2026-07-01T06:00:00Z", "end": "2026-07-02T06:00:00Z"}


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--since", "2026-01-01", "--until", "2026-04-03"], "at most 92"),  # 93 days
        (["--period", "93d"], "longer than 92 days"),
        (["--period", "2w"], "is not a period"),
        (["--period", "7d", "--since", "2026-07-01"], "not both"),
        (["--until", "2026-07-01"], "--until needs --since"),
        (["--since", "July 1st"], "not an ISO date"),
        (["--since", "2026-07-02", "--until", "2026-07-01T00:00"], "later than --since"),
        (["--by", "week"], "use model or day"),
    ],
)
def test_a_window_the_api_would_refuse_is_exit_2_before_any_request(cli_env, server, args, said):
    r = invoke(["usage", *args], cli_env)
    assert r.returncode == 2
    assert said in r.stderr and len(r.stderr.splitlines()) == 1
    assert server.requests == []


def test_92_days_is_allowed(cli_env, server):
    r = invoke(["usage", "--since", "2026-01-01", "--until", "2026-04-02"], cli_env)
    assert r.returncode == 0, r.stderr


def test_json_is_one_object(cli_env, server):
    _two_asks(cli_env)
    r = invoke(["usage", "--json", "--by", "day"], cli_env, stdout_tty=True)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["balance"] == 123.45 and doc["currency"] == "USD"
    assert doc["api"] == {"spend": 12.3456, "currency": "USD", "requests": 842}
    assert doc["history"]["replies"] == 2 and doc["history"]["cost"] is None
    assert doc["window"]["period"] == "7d" and doc["by"] == "day"
    assert doc["rows"][-1]["api"]["failed"] == 2


def test_out_of_credits_is_exit_3_with_the_billing_page(cli_env, server):
    server.account["/v2/billing"] = Reply(status=403, body=OUT_OF_CREDITS)
    r = invoke(["usage"], cli_env)
    assert r.returncode == 3
    assert "run out of credits" in r.stderr
    assert f"top up at {aimlapi.BILLING_DASHBOARD}" in r.stderr
    assert len(r.stderr.splitlines()) == 1 and "Traceback" not in r.stderr


def test_a_refused_key_is_exit_3(cli_env, server):
    server.account["/v2/billing"] = Reply(status=401, body={"message": "Invalid API key"})
    r = invoke(["usage"], cli_env)
    assert r.returncode == 3 and "Invalid API key" in r.stderr
    assert "top up" not in r.stderr


def test_no_key_and_a_server_that_wants_one_is_exit_3_saying_so(cli_env, server):
    server.account["/v2/billing"] = Reply(status=401, body={"message": "Unauthorized"})
    r = invoke(["usage"], {**cli_env, "AIML_API_KEY": ""})
    assert r.returncode == 3, r.stderr
    assert "no API key" in r.stderr and "aimlchat key set" in r.stderr
    assert len(r.stderr.splitlines()) == 1 and "Traceback" not in r.stderr
    (sent,) = _account_requests(server)
    assert "Authorization" not in sent["headers"]


@pytest.mark.parametrize(
    "billing",
    [
        None,  # 404
        Reply(status=405, body="Method Not Allowed"),
        Reply(body="<html><body>llama.cpp</body></html>", content_type="text/html"),
    ],
)
def test_no_key_on_a_server_without_usage_says_it_offers_none(cli_env, server, billing):
    server.account = {} if billing is None else {"/v2/billing": billing}
    r = invoke(["usage"], {**cli_env, "AIML_API_KEY": ""})  # llama.cpp: no key needed
    assert r.returncode == 1, r.stderr
    assert r.stderr == "aimlchat: error: this server does not offer usage (/v2/billing)\n"


@pytest.mark.parametrize("command", [["usage"], ["models"], ["models", "--deprecated"]])
def test_a_lan_server_over_plain_http_takes_allow_insecure(cli_env, server, command):
    lan = {**cli_env, "AIMLCHAT_BASE_URL": server.base_url.replace("127.0.0.1", "0.0.0.0")}
    r = invoke(command, lan)
    assert r.returncode == 2 and "--allow-insecure" in r.stderr
    r = invoke([*command, "--allow-insecure"], lan)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize(
    "billing",
    [
        None,  # 404: LiteLLM, vLLM ({"detail": "Not Found"}), llama.cpp
        Reply(status=404, body={"detail": "Not Found"}),
        Reply(status=405, body="Method Not Allowed"),
        Reply(body="<html><body>llama.cpp</body></html>", content_type="text/html"),
        Reply(body={"object": "list", "data": []}),  # JSON, but not a balance
    ],
)
def test_a_server_without_the_endpoints_says_so_in_one_line(cli_env, server, billing):
    server.account = {} if billing is None else {"/v2/billing": billing}
    r = invoke(["usage"], cli_env)
    assert r.returncode == 1
    assert r.stderr == "aimlchat: error: this server does not offer usage (/v2/billing)\n"
    assert r.stdout == b""


def test_a_server_with_billing_but_no_usage_names_the_missing_one(cli_env, server):
    del server.account["/v2/usage/detail"]
    r = invoke(["usage", "--by", "model"], cli_env)
    assert r.returncode == 1
    assert "this server does not offer usage (/v2/usage/detail)" in r.stderr


def test_the_key_goes_as_bearer_and_never_in_the_url(cli_env, server):
    invoke(["usage", "--by", "model"], cli_env)
    invoke(["usage", "--since", "2026-07-01", "--until", "2026-07-02"], cli_env)
    sent = _account_requests(server)
    assert len(sent) == 4
    for request in sent:
        assert request["headers"]["Authorization"] == f"Bearer {TEST_KEY}"
        assert TEST_KEY not in request["path"] and "key" not in _query(request)


def test_the_v2_paths_sit_beside_v1_on_the_same_host():
    assert aimlapi.api_root("https://api.aimlapi.com/v1") == "https://api.aimlapi.com"
    assert aimlapi.api_root("https://api.aimlapi.com/v1/") == "https://api.aimlapi.com"
    assert aimlapi.api_root("https://proxy.example/aiml/v1") == "https://proxy.example/aiml"
    assert aimlapi.api_root("http://localhost:8080") == "http://localhost:8080"


def test_piped_output_carries_no_escapes_even_from_the_server(cli_env, server):
    server.account["/v2/usage/detail"] = {
        "spend": 1.5,
        "requests": 3,
        "models": [{"model": "evil\x1b[31m\tmodel\nname", "spend": 1.5, "requests": 3}],
    }
    r = invoke(["usage", "--by", "model"], cli_env)
    assert r.returncode == 0, r.stderr
    assert b"\x1b" not in r.stdout
    rows = _tsv(r.stdout)
    assert len(rows) == 1 and rows[0]["api_spend"] == "1.5"
    assert rows[0]["model"].startswith("evil")


def test_missing_fields_are_blank_not_errors(cli_env, server):
    server.account["/v2/billing"] = {"current_balance": None}
    server.account["/v2/usage"] = {"spend": 0.00124}
    r = invoke(["usage"], cli_env, stdout_tty=True)
    assert r.returncode == 0, r.stderr
    assert "$0.00124" in r.stdout.decode()


def test_the_readers_tolerate_what_is_missing():
    assert aimlapi.balance({"detail": "Not Found"}) is None
    assert aimlapi.balance({"current_balance": "12"}) == aimlapi.Balance(None, None)
    used = aimlapi.usage({"spend": 2, "models": [{"model": "m"}, "junk"], "groups": None})
    assert used is not None and used.spend == 2.0 and used.requests is None
    assert [m.model for m in used.models] == ["m"] and used.groups == ()
    group = aimlapi.usage({"spend": 1, "groups": [{"day": "2026-07-21", "requests": {}}]})
    assert group is not None and group.groups[0].requests is None
    assert group.groups[0].tokens is None


def test_without_history_nothing_is_created(cli_env, server, home):
    r = invoke(["usage"], cli_env)
    assert r.returncode == 0, r.stderr
    assert _pairs(r.stdout)["history_replies"] == ""
    assert not list((home / "data").rglob("history.db"))


def test_usage_help_loads_no_requests(cli_env):
    mods = _loaded(["usage", "--help"], cli_env)
    assert "typer" in mods
    assert not {"requests", "urllib3", "rich", "aimlchat.commands.usage"} & mods
