"""SIGTERM and SIGHUP raise once: a second signal while the first one's exception is on
its way out (saving the reply, stopping a tool) is ignored, but one whose exception was
swallowed (by a library's callback) did not take effect, and the next one must."""

from __future__ import annotations

import contextlib
import signal

import pytest

from aimlchat.errors import Hangup, Terminated
from aimlchat.signals import ending_raises


def test_a_second_signal_on_the_way_out_does_not_cut_it_short() -> None:
    caught = []
    with ending_raises():
        try:
            try:
                signal.raise_signal(signal.SIGTERM)
            finally:  # the way out: the window closing sends HUP too
                signal.raise_signal(signal.SIGHUP)
        except Terminated as exc:
            caught.append(exc)
    assert [type(e) for e in caught] == [Terminated]
    assert caught[0].__context__ is None  # nothing raised during the way out


def test_a_signal_whose_exception_was_swallowed_still_lets_the_next_one_end_the_run() -> None:
    with ending_raises():
        with contextlib.suppress(Terminated):  # as asyncio's callbacks do: log, carry on
            signal.raise_signal(signal.SIGTERM)
        with pytest.raises(Hangup):
            signal.raise_signal(signal.SIGHUP)


def test_a_hangup_raised_by_a_failed_read_is_on_its_way_out_for_the_signal_that_follows():
    """The consent question raises Hangup when the terminal's read fails (EIO); the
    SIGHUP that follows must not cut the way out short with a second one."""
    caught = []
    with ending_raises():
        try:
            try:
                raise Hangup()
            finally:
                signal.raise_signal(signal.SIGHUP)
        except Terminated as exc:
            caught.append(exc)
    assert len(caught) == 1 and caught[0].__context__ is None


@pytest.mark.parametrize(
    "signum, error", [(signal.SIGTERM, Terminated), (signal.SIGINT, KeyboardInterrupt)]
)
def test_a_signal_inside_held_waits_for_the_block_then_takes_effect(signum, error):
    from aimlchat.signals import held

    done = []
    with ending_raises(), pytest.raises(error), held():
        signal.raise_signal(signum)
        done.append("the block finished")
    assert done == ["the block finished"]
