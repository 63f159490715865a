"""Server-sent events as the standard reads them, from an httpx streaming response."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

from .errors import LLMBadResponse

MAX_LINE_BYTES = 4_000_000  # one SSE line; a longer one is a broken or hostile stream


async def sse_lines(response: httpx.Response) -> AsyncIterator[str]:
    """The body's lines as the SSE standard splits them: at CRLF, LF or CR only.

    httpx's ``aiter_lines`` also splits at U+2028, U+0085, form feeds and the like
    (str.splitlines), which a JSON string may carry unescaped: a model writing U+2028 would
    cut its own data line in two. Standard: https://html.spec.whatwg.org/multipage/
    server-sent-events.html#parsing-an-event-stream ("end-of-line = ( cr lf / cr / lf )").
    Each line is decoded as UTF-8 with replacement, as the standard says.
    """
    buf = b""
    async for chunk in response.aiter_bytes():
        buf += chunk
        start = 0
        while True:
            cut = _line_end(buf, start)
            if cut is None:
                break
            end, skip = cut
            yield buf[start:end].decode("utf-8", "replace")
            start = end + skip
        buf = buf[start:]
        if len(buf) > MAX_LINE_BYTES:
            raise LLMBadResponse(
                f"the server sent a stream line longer than "
                f"{MAX_LINE_BYTES:,} bytes; stopped reading"
            )
    if buf:
        yield buf.rstrip(b"\r").decode("utf-8", "replace")


def _line_end(buf: bytes, start: int) -> tuple[int, int] | None:
    """Where the line at ``start`` ends and how long its end-of-line is; None if the line
    may still go on (a CR as the last byte may be the first half of a CRLF)."""
    lf, cr = buf.find(b"\n", start), buf.find(b"\r", start)
    if cr < 0 or (0 <= lf < cr):
        return None if lf < 0 else (lf, 1)
    if cr + 1 == len(buf):
        return None
    return cr, 2 if buf[cr + 1 : cr + 2] == b"\n" else 1


async def iter_sse(response: httpx.Response) -> AsyncIterator[tuple[str, str]]:
    """Server-sent events as (event, data) pairs; multi-line data joined with newlines."""
    event, data = "", []  # type: str, list[str]
    async for line in sse_lines(response):
        if line == "":
            if data:
                yield event or "message", "\n".join(data)
            event, data = "", []
            continue
        if line.startswith(":"):
            continue  # comment / keep-alive
        key, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if key == "event":
            event = value
        elif key == "data":
            data.append(value)
    if data:
        yield event or "message", "\n".join(data)
