"""`-f URL` pages: which types are text, written once (`fetch_text` reads the body of
these types only, and chat.files fences them: when two lists differed, a page of a type
only one of them knew became an empty block, silently), and fetching one over the
client's transport. Importing this module imports no HTTP library."""

from __future__ import annotations

from contextlib import closing
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

from aimlchat.errors import NetworkError, UsageError

if TYPE_CHECKING:
    from aimlchat.api.transport import Answer, Transport

PAGE_LIMIT = 2 * 1024 * 1024  # a page, not a download
MAX_REDIRECTS = 5
PAGE_ACCEPT = "text/html, text/plain;q=0.9, text/*;q=0.8, application/json;q=0.8, */*;q=0.1"

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


def fetch_text(transport: Transport, url: str, *, limit: int = PAGE_LIMIT) -> tuple[bytes, str]:
    """A page for `-f URL`: (body, content type), redirects followed over http(s) only.

    The page's host is not the API: the key is never sent there. The body is read
    only for a text type, at most `limit` bytes once decoded; for any other type it
    is b"" and the caller decides (an image URL is passed on as a URL).
    """
    for _ in range(MAX_REDIRECTS + 1):
        resp = transport.get_elsewhere(url, {"Accept": PAGE_ACCEPT}, "a page for -f")
        with closing(resp):
            if resp.is_redirect:
                url = redirect_target(url, resp.headers.get("Location", ""))
                continue
            ctype = resp.headers.get("Content-Type", "")
            if resp.status_code >= 400:
                error = UsageError if resp.status_code < 500 else NetworkError
                raise error(f"cannot fetch {url}: HTTP {resp.status_code} {resp.reason}")
            if not is_text(ctype):  # the caller says what it is (or passes an image on)
                return b"", ctype
            return _read_page(transport, resp, url, limit), ctype
    raise UsageError(f"cannot fetch {url}: more than {MAX_REDIRECTS} redirects")


def _read_page(transport: Transport, resp: Answer, url: str, limit: int) -> bytes:
    too_big = UsageError(
        f"{url} is larger than the {limit // (1024 * 1024)} MB limit for -f",
        hint="save the part you need to a file and pass that",
    )
    declared = resp.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_big
    try:
        body = transport.read_up_to(resp, limit + 1)
    except NetworkError as exc:
        why = exc.message.split(";")[0]
        raise NetworkError(f"cannot fetch {url}: {why}") from None
    if len(body) > limit:
        raise too_big
    return body
