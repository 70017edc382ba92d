"""What goes wrong with an MCP server, each error naming the server."""

from __future__ import annotations

from aimlchat.errors import AimlchatError, ExitCode


class McpError(AimlchatError):
    """An MCP server could not be used. `server` is its name in config.toml."""

    exit_code = ExitCode.API

    def __init__(self, server: str, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.server = server


class ServerFailed(McpError):
    """It could not start, died, timed out answering the protocol, or broke it. `tail` holds
    the last lines of its stderr when there is a log to read them from."""

    def __init__(
        self, server: str, message: str, *, tail: tuple[str, ...] = (), hint: str | None = None
    ) -> None:
        super().__init__(server, message, hint=hint)
        self.tail = tail

    def retold(self, message: str, *, hint: str | None = None) -> ServerFailed:
        """The same failure (its class, so its exit code, and its fields) told in other
        words: the registry adds the stderr's tail and where the log is."""
        # Not copy.copy: it would call __init__ with `args` alone, which it does not take.
        told = type(self).__new__(type(self), message)
        told.__dict__.update(self.__dict__)
        told.message, told.hint = message, hint
        return told


class ServerUnreachable(ServerFailed):
    """No connection could be made to it (refused, a host name that does not resolve, no
    answer to connect, TLS failed): a network matter, as for the API itself."""

    exit_code = ExitCode.NETWORK


class ServerRateLimited(McpError):
    """It answered HTTP 429. `retry_after`: the seconds its Retry-After asks to wait."""

    exit_code = ExitCode.RATE_LIMITED

    def __init__(self, server: str, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(server, message)
        self.retry_after = retry_after


class ServerRefused(McpError):
    """It refused our credentials (HTTP 401 or 403): a config matter, not a server fault."""

    exit_code = ExitCode.AUTH


class SessionExpired(ServerFailed):
    """It answered 404 to a message carrying its `Mcp-Session-Id`: that session is over
    (the server restarted or let it expire). `request` is the id of the request it refused
    (so the server did not run it), None for a notification or an answer of ours."""

    def __init__(self, server: str, message: str, *, request: int | None = None) -> None:
        super().__init__(server, message)
        self.request = request
