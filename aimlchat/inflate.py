"""Undoing a gzip or deflate Content-Encoding as a stream arrives (no I/O, no requests)."""

from __future__ import annotations

import zlib

from aimlchat.errors import ApiError


class Inflater:
    """Undoes a gzip or deflate Content-Encoding incrementally: each compressed piece
    gives back all the text it holds, so a stream flushed per event stays live."""

    def __init__(self, coding: str) -> None:
        self.coding = coding
        # 47 = 32 + 15: a gzip or a zlib header, detected from the first bytes.
        self._z = zlib.decompressobj(47)
        self._fed = False

    @classmethod
    def for_header(cls, value: str | None) -> Inflater | None:
        codings = [c.strip().lower() for c in (value or "").split(",")]
        codings = [c for c in codings if c and c != "identity"]
        if not codings:
            return None
        if len(codings) > 1 or codings[0] not in ("gzip", "x-gzip", "deflate"):
            raise ApiError(
                f"the server sent the reply encoded as {', '.join(codings)}, "
                "which aimlchat cannot decode",
                hint="a proxy in between may be compressing the stream",
            )
        return cls(codings[0])

    def feed(self, data: bytes) -> bytes:
        try:
            if self._fed or self.coding != "deflate":
                return self._inflate(data)
            self._fed = True
            try:
                return self._inflate(data)
            except zlib.error:
                self._z = zlib.decompressobj(-15)  # "deflate" sent raw, without its header
                return self._inflate(data)
        except zlib.error:
            raise ApiError(f"the server's {self.coding} stream is corrupt") from None

    def _inflate(self, data: bytes) -> bytes:
        out = self._z.decompress(data)
        while self._z.eof and self._z.unused_data:  # gzip members may follow one another
            rest = self._z.unused_data
            self._z = zlib.decompressobj(47)
            out += self._z.decompress(rest)
        return out
