"""The spinner shows the wait going on now: a retry's delay counts down, and once it is
over the new request's wait is counted from zero under a label that says so."""

from __future__ import annotations

import io

from aimlchat.terminal.spinner import Pause, Spinner


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _spinner(clock: Clock) -> Spinner:
    spinner = Spinner(io.StringIO(), enabled=False, clock=clock)
    spinner.start()
    return spinner


def test_the_first_wait_counts_from_the_start():
    clock = Clock()
    spinner = _spinner(clock)
    clock.now += 3.2
    assert spinner.line() == "waiting 3.2 s"


def test_a_retry_delay_counts_down_then_the_new_wait_counts_from_zero():
    clock = Clock()
    spinner = _spinner(clock)
    clock.now += 5.0  # the first attempt failed after 5 s
    spinner.note(
        Pause(
            "server error; retrying in 2.0s (1/2)",
            seconds=2.0,
            before="server error; retrying (1/2) in",
            after="waiting (retry 1/2)",
        )
    )
    clock.now += 0.5
    assert spinner.line() == "server error; retrying (1/2) in 1.5 s"
    clock.now += 1.5 + 0.7  # the delay is over; the retry has waited 0.7 s
    assert spinner.line() == "waiting (retry 1/2) 0.7 s"


def test_a_pause_on_stderr_reads_as_the_whole_notice():
    pause = Pause("x; retrying in 2.0s (1/2)", seconds=2.0, before="b", after="a")
    assert str(pause) == "x; retrying in 2.0s (1/2)" and f"{pause}" == str(pause)
