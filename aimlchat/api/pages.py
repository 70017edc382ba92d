"""What `-f URL` takes as text, written once: the client reads the body of these types
only, and chat.files fences them (when the two lists differed, a page of a type only
one of them knew became an empty block, silently)."""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

from aimlchat.errors import UsageError

TEXT_TYPES = frozenset(
    {
        "",  # no Content-Type at all: the body decides (it must be UTF-8)
        "application/json",
        "application/xml",
        "application/javascript",
        "application/x-javascript",
        "application/ecmascript",
        "application/yaml",
        "application/x-yaml",
        "application/toml",
        "application/sql",
        "application/x-sh",
    }
)


def media_type(content_type: str) -> str:
    """`text/html; charset=utf-8` -> `text/html`."""
    return content_type.split(";")[0].strip().lower()


def is_text(content_type: str) -> bool:
    kind = media_type(content_type)
    # +json and +xml (RFC 6839): application/ld+json, application/xhtml+xml, …
    return kind.startswith("text/") or kind in TEXT_TYPES or kind.endswith(("+json", "+xml"))


def redirect_target(url: str, location: str) -> str:
    """Where a redirect of a fetched page leads; only ever to another http(s) URL."""
    target = urljoin(url, location)
    parts = urlsplit(target)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"cannot fetch {url}: it redirects to {target or '?'}, not http(s)")
    return target
