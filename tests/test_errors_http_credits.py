"""An account with no credits left is told so, whatever shape the server says it in: the
AI/ML API's 403 "run out of credits", OpenAI's 429 `insufficient_quota` (not a rate limit
to wait out and retry). Exit 3 with the billing page, through the real CLI."""

from __future__ import annotations

import json

import pytest

from tests.conftest import invoke
from tests.loopback import Reply

CASES = [
    (403, {"message": "You've run out of credits. Please top up your balance.", "statusCode": 403}),
    (
        429,
        {
            "error": {
                "message": "You exceeded your current quota, please check your plan.",
                "type": "insufficient_quota",
                "code": "insufficient_quota",
            }
        },
    ),
]


@pytest.mark.parametrize(("status", "body"), CASES)
def test_no_credits_left_is_exit_3_with_the_billing_page_and_not_retried(
    cli_env, server, status, body
):
    server.push(Reply(status=status, body=json.dumps(body)))
    r = invoke(["ask", "--no-history", "hi"], cli_env)
    assert r.returncode == 3, r.stderr
    err = r.stderr
    assert "no credits left" in err and "https://aimlapi.com/app/billing" in err
    assert len(server.chat_bodies()) == 1  # a spent balance is not waited out


def test_a_plain_429_is_still_a_rate_limit(cli_env, server):
    body = {"error": {"message": "Rate limit reached", "code": "rate_limit_exceeded"}}
    server.push(*[Reply(status=429, body=json.dumps(body))] * 3)
    r = invoke(["ask", "--no-history", "--retries", "0", "hi"], cli_env)
    assert r.returncode == 5, r.stderr
