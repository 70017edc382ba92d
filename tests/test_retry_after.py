"""A Retry-After the server gets wrong (negative, not a number of seconds, not finite) is
treated as absent: the normal jittered backoff, not an instant retry."""

from __future__ import annotations

import re

import pytest

from tests.conftest import invoke
from tests.loopback import Reply


@pytest.mark.parametrize("value", ["-5", "-0.5", "nan", "inf", "-inf", "1e999", "soon", ""])
def test_an_invalid_retry_after_is_absent(value):
    from aimlchat.api.retry import retry_after

    assert retry_after(value) is None


def test_valid_retry_after_values_are_kept():
    from aimlchat.api.retry import retry_after

    assert retry_after("0") == 0.0 and retry_after(" 2 ") == 2.0
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date gone by: now


def test_a_negative_retry_after_waits_the_normal_backoff(cli_env, server):
    busy = Reply(
        status=429, body={"error": {"message": "slow down"}}, headers={"Retry-After": "-5"}
    )
    server.push(busy)
    r = invoke(["ask", "--retries", "1", "hi"], cli_env)
    assert r.returncode == 0, r.stderr
    waited = re.search(r"retrying in (\d+\.\d)s", r.stderr)
    assert waited is not None, r.stderr
    # The first backoff: 0.5 s with ±25 % jitter, never the instant retry -5 used to mean.
    assert 0.3 <= float(waited.group(1)) <= 0.7
