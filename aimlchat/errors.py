"""Exit codes and the typed errors that domain code raises.

Only the CLI's error boundary turns these into a message and an exit status.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    API = 1
    USAGE = 2
    AUTH = 3
    NETWORK = 4
    RATE_LIMITED = 5
    HANGUP = 129
    INTERRUPTED = 130
    STDOUT_CLOSED = 141
    TERMINATED = 143


class AimlchatError(Exception):
    """Base of every error meant for the user: one line, one exit code."""

    exit_code: ExitCode = ExitCode.API

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(AimlchatError):
    exit_code = ExitCode.USAGE


class Unsupported(UsageError):
    """Something this operating system cannot do: "… is not available on Windows"."""


class ConfigError(AimlchatError):
    exit_code = ExitCode.AUTH


class AuthError(AimlchatError):
    exit_code = ExitCode.AUTH


class ApiError(AimlchatError):
    exit_code = ExitCode.API

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        request_id: str | None = None,
        hint: str | None = None,
        retry_after: float | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.request_id = request_id
        self.retry_after = retry_after  # seconds the server asked to wait (Retry-After)
        self.code = code  # the error body's `code` (context_length_exceeded), when it has one


class RateLimitError(ApiError):
    exit_code = ExitCode.RATE_LIMITED


class NetworkError(AimlchatError):
    exit_code = ExitCode.NETWORK

    def __init__(
        self, message: str, *, hint: str | None = None, unsent: bool = False, lasting: bool = False
    ) -> None:
        super().__init__(message, hint=hint)
        # True only when the request certainly never reached the server (no connection was
        # made): the one network failure that may be retried without paying twice.
        self.unsent = unsent
        # Asking again cannot help (a refused certificate): not retried even when unsent.
        self.lasting = lasting


class StoreError(AimlchatError):
    """The history database cannot be opened or written."""

    exit_code = ExitCode.API


class Redactor:
    """Replaces every known secret in text that is about to leave the process.

    The key can come back in a server's error body or an exception's repr; one place
    scrubs all of it, so no code path has to remember.
    """

    def __init__(self) -> None:
        self._secrets: set[str] = set()

    def add(self, secret: str | None) -> None:
        if secret and len(secret) >= 4:
            self._secrets.update(_escaped_forms(secret))

    def __call__(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):  # a form before its part
            if secret in text:
                text = text.replace(secret, "***")
        return text

    def cut(self, text: str, *, start: bool = False, end: bool = True) -> str:
        """`text` redacted, where a cut has just ended it (`end`; an `…` after the cut
        is kept) or begun it (`start`: a tail): a secret's first or last characters (4
        or more) at that edge go too, or a cap could leak most of a key."""
        text = self(text)
        if end and text.endswith("…"):
            return self.cut(text[:-1], start=start) + "…"
        longest = sorted(self._secrets, key=len, reverse=True)
        if end:
            text = next(filter(None, (_cut_end(text, s) for s in longest)), text)
        if start:
            text = next(filter(None, (_cut_start(text, s) for s in longest)), text)
        return text


def _cut_end(text: str, secret: str) -> str | None:
    for size in range(min(len(secret) - 1, len(text)), 3, -1):
        if text.endswith(secret[:size]):
            return text[:-size] + "***"
    return None


def _cut_start(text: str, secret: str) -> str | None:
    for size in range(min(len(secret) - 1, len(text)), 3, -1):
        if text.startswith(secret[-size:]):
            return "***" + text[size:]
    return None


def _escaped_forms(secret: str) -> set[str]:
    """`secret` as it is and as it reads inside a repr or JSON: an exception that quotes a
    header shows a line break as `\\n`, which the raw secret does not match."""
    import json  # only when a secret is added: the key's run needs it anyway

    return {
        secret,
        repr(secret)[1:-1],
        repr(secret.encode("utf-8"))[2:-1],
        secret.encode("unicode_escape").decode("ascii"),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
    }


redact = Redactor()


class Terminated(BaseException):
    """SIGTERM. Not a KeyboardInterrupt: the REPL turns Ctrl-C into "back to the prompt",
    but a TERM must end the process (143). Partial replies are saved the same way, since
    the session keeps text on any BaseException. What raises it: aimlchat/signals.py."""

    exit_code = ExitCode.TERMINATED
    word = "terminated"  # the notice on the way out
    cause = "aimlchat was terminated (SIGTERM)"  # in an interrupted tool result, for the model
    terminal_gone = False


class Hangup(Terminated):
    """SIGHUP: the terminal went away (window closed, ssh dropped). Ends the run on the
    same path as SIGTERM (partial reply saved, a running tool's group stopped), with 129."""

    exit_code = ExitCode.HANGUP
    word = "hung up"
    cause = "the user's terminal hung up (SIGHUP)"
    terminal_gone = True


class StdoutClosed(AimlchatError):
    """The reader of stdout went away (`| head`): a quiet exit, like a SIGPIPE death."""

    exit_code = ExitCode.STDOUT_CLOSED


class StdoutUnwritable(AimlchatError):
    """stdout refuses what is written (a full disk, an I/O error, a descriptor closed
    before we started): unlike a reader that went away, worth saying."""

    exit_code = ExitCode.API

    def __init__(self, reason: str, *, what: str = "the output", hint: str | None = None) -> None:
        super().__init__(f"cannot write {what}: {reason}", hint=hint)
        self.reason = reason
