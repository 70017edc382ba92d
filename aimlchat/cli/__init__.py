"""The entry point and the one error boundary (httpie's `main(args, env) -> ExitStatus`).

`main` parses and runs a command and *returns* its exit status; the console script
does `sys.exit(main())`. Commands raise typed errors; only this module turns them into
one line on stderr and an `ExitCode`. Tests call `main` in-process with a fake
`Environment`.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from aimlchat.errors import (
    AimlchatError,
    ExitCode,
    StdoutUnwritable,
    Terminated,
    UsageError,
    redact,
)
from aimlchat.signals import ending_raises, silence

if TYPE_CHECKING:
    from aimlchat.terminal.environment import Environment


def main(argv: Sequence[str] | None = None, env: Environment | None = None) -> int:
    """Run the CLI with `argv` (default: sys.argv[1:]) and return the exit status."""
    import typer

    from aimlchat.cli.build import click_command
    from aimlchat.terminal.environment import Environment
    from aimlchat.terminal.notify import Notifier

    env = env or Environment.from_process()
    args = list(sys.argv[1:] if argv is None else argv)
    if "--no-color" in args:  # error lines too, even when parsing fails
        env.no_color = True
    debug = "--debug" in args or env.environ.get("AIMLCHAT_DEBUG") == "1"
    status: int
    with ending_raises(env.terminal_outputs()), _exit_hooks_at_end():
        try:
            args = _default_command(args, env)
            command = click_command(args, completing=COMPLETE_VAR in env.environ)
            result = command.main(args, prog_name="aimlchat", standalone_mode=False, obj=env)
            status = result if isinstance(result, int) else ExitCode.OK
            if status == ExitCode.INTERRUPTED:  # typer turns KeyboardInterrupt into Exit(130)
                Notifier(env).info("interrupted")
        except Terminated as exc:  # SIGTERM or SIGHUP (Hangup), raised by aimlchat/signals.py
            if exc.terminal_gone:  # also when a read found the terminal gone before the signal
                silence(env.terminal_outputs())
            Notifier(env).info(exc.word)
            status = exc.exit_code
        except AimlchatError as exc:
            if exc.exit_code == ExitCode.STDOUT_CLOSED:
                _quiet_stdout(env)
            else:
                if isinstance(exc, StdoutUnwritable):  # the exit's flush must not fail again
                    _quiet_stdout(env)
                if debug:
                    Notifier(env).debug(_traceback())
                Notifier(env).error(exc.message, exc.hint)
            status = exc.exit_code
        except typer.Abort:  # EOF at a hidden prompt
            Notifier(env).info("aborted")
            status = ExitCode.INTERRUPTED
        except _click_usage_errors() as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # a bare group: its help, as Click does
                Notifier(env).raw(_usage_text(exc))
            else:
                Notifier(env).error(_usage_text(exc), _usage_hint(exc))
            status = ExitCode.USAGE
        except BrokenPipeError:
            _quiet_stdout(env)
            status = ExitCode.STDOUT_CLOSED
        except SystemExit as exc:  # shell completion, or Click's own exit paths
            status = _exit_status(exc, env)
        except Exception as exc:  # the last line of defence: no traceback without --debug
            if debug:
                Notifier(env).debug(_traceback())
            Notifier(env).error(
                f"unexpected {type(exc).__name__}: {redact(str(exc))[:300]}",
                None if debug else "run with --debug for details",
            )
            status = ExitCode.API
    return int(status)


@contextlib.contextmanager
def _exit_hooks_at_end() -> Iterator[None]:
    """On the way out, however the run ended, stop what it started (MCP servers:
    aimlchat.exit_hooks). A second SIGTERM, SIGHUP or Ctrl-C waits for that to finish
    (`held`) and is then dropped: the run is ending already, with the status it decided."""
    try:
        yield
    finally:
        from aimlchat import exit_hooks
        from aimlchat.signals import held

        try:
            with held():
                exit_hooks.run()
        except (Terminated, KeyboardInterrupt):
            pass


COMPLETE_VAR = "_AIMLCHAT_COMPLETE"  # what Typer's shell completion sets
_TOP_FLAGS = ("-h", "--help", "-V", "--version", "--install-completion", "--show-completion")


def _default_command(args: list[str], env: Environment) -> list[str]:
    """`aimlchat "question"` asks; `… | aimlchat` asks with stdin; bare `aimlchat` chats.

    A subcommand name still wins (`aimlchat ask models` asks the word "models"); `help`
    alone or before a command name shows help; a clear typo of a command is an error
    rather than a paid request (the rule: cli/typos.py), any other word is a prompt.
    """
    from aimlchat.cli.app import command_names

    if COMPLETE_VAR in env.environ and not args:
        # Shell completion: Click reads the words from os.environ; `aimlchat -m <TAB>`
        # completes as `aimlchat ask -m <TAB>`, since that is what the line would run.
        import os

        from aimlchat.cli.complete import complete_as_ask

        complete_as_ask(os.environ, command_names(), _TOP_FLAGS)
        return args
    if not args:
        if not env.stdin_tty:
            return ["ask"]
        return ["chat"] if env.stdout_tty else ["--help"]
    first = args[0]
    names = command_names()
    if first in names or first in _TOP_FLAGS:
        return args
    if first == "help" and all(a in names for a in args[1:2]):
        return [*args[1:], "--help"]
    if first == "help" and len(args) == 2:  # `help histroy`: help for a mistyped command
        _refuse_mistyped_command(args[1:], names, prompt=args)
    _refuse_mistyped_command(args, names)
    return ["ask", *args]


def _refuse_mistyped_command(
    args: list[str], names: list[str], *, prompt: list[str] | None = None
) -> None:
    """`aimlchat hsitory`, `aimlchat histroy list` or `aimlchat help histroy`: an error,
    not a paid request (`prompt`: the words as typed, for the hint)."""
    from aimlchat.cli.app import subcommand_names
    from aimlchat.cli.typos import mistyped

    close = mistyped(args, names, {name: subcommand_names(name) for name in names})
    if close is not None:
        raise UsageError(
            f"{args[0]!r} is not a command; did you mean {close}?",
            hint=f"to ask it as a prompt: aimlchat ask {' '.join(prompt or args)}",
        )


def _exit_status(exc: SystemExit, env: Environment) -> int:
    """Click's own exits: 0 for None; a closed pipe while printing help is 141, as elsewhere."""
    if exc.code is None:
        return ExitCode.OK
    if not isinstance(exc.code, int):
        return ExitCode.USAGE
    if exc.code == 1 and _stdout_closed(exc):
        _quiet_stdout(env)
        return ExitCode.STDOUT_CLOSED
    return exc.code


def _stdout_closed(exc: BaseException) -> bool:
    # Typer turns EPIPE while printing (help, completion) into sys.exit(1); the cause says so.
    cause = exc.__context__
    return isinstance(cause, BrokenPipeError) or getattr(cause, "errno", None) == 32


def _traceback() -> str:
    import traceback  # only with --debug: 4 ms of imports no other run needs

    return traceback.format_exc()


def _click_usage_errors() -> type[Exception]:
    # typer vendors Click and re-exports only some of its exceptions.
    from typer._click.exceptions import ClickException

    return ClickException


def _usage_text(exc: Exception) -> str:
    return str(getattr(exc, "format_message", lambda: str(exc))())


def _usage_hint(exc: Exception) -> str | None:
    ctx = getattr(exc, "ctx", None)
    if ctx is None:
        return "see aimlchat --help"
    return f"see {ctx.command_path} --help"


def _quiet_stdout(env: Environment) -> None:
    # The reader went away: point stdout at /dev/null so the final flush cannot raise.
    from aimlchat.osplatform import point_at_devnull

    try:
        fd = env.stdout.fileno()
    except (OSError, ValueError, AttributeError):
        return  # no descriptor (an in-process test's stream): nothing flushes to one
    point_at_devnull([fd])


def run() -> None:
    """The console script (and `python -m aimlchat`)."""
    status = main()
    # The interpreter's last garbage collections walk every object that typer, requests
    # and aimlchat made: ~25 ms, a sixth of a piped `ask`. Nothing is left to collect that
    # matters (history is committed, files are closed, stdout is flushed at exit all the
    # same), so they skip it. Measured in tests/benchmarks/bench_startup.py.
    import gc

    gc.freeze()
    sys.exit(status)
