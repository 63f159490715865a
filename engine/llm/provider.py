"""The provider interface and the HTTP machinery every remote provider shares.

A provider turns one `ChatRequest` into one `Completion`, streaming text chunks to a callback as
they arrive. Remote providers share: a 5 s connect deadline and a total deadline over the whole
call (retries included), retries only on 429/5xx/network errors (jittered exponential backoff,
Retry-After honoured, at most 2), translation of HTTP failures into `LLMError` kinds, a
server-sent-events reader that splits lines as the SSE standard does, and a check of the usage
a server reports (`checked_usage`).

A `Completion` says how the reply ended (``finish``): only ``"stop"`` is a finished answer. A
reply cut at the token limit, filtered, refused or whose stream ended without saying why is
never read as a decision (the strategy turns it into a counted HOLD).
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import random
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from .errors import (
    LLMAuthError,
    LLMBadRequest,
    LLMBadResponse,
    LLMError,
    LLMRateLimited,
    LLMTimeout,
    LLMUnavailable,
)

ChunkSink = Callable[[str], None]
CONNECT_TIMEOUT_S = 5.0
MAX_RETRIES = 2


@dataclass
class ChatRequest:
    """One conversation to complete. ``messages`` alternate user/assistant, ending with user."""

    system: str
    messages: list[dict[str, str]]
    max_tokens: int = 1200
    temperature: float = 0.2
    json_schema: dict[str, Any] | None = None  # asked for where the provider supports it
    facts: Any = None  # structured market facts; only the offline provider reads them


@dataclass
class Completion:
    text: str
    tokens_in: int
    tokens_out: int
    usage_estimated: bool = False
    attempts: int = 1
    json_mode: str = "prompt"  # how JSON was asked for: schema, json_object, prefill, prompt
    extra: dict[str, Any] = field(default_factory=dict)
    # How the reply ended, in the provider's words ("stop", "length", "max_tokens", ...);
    # "stop" for a finished answer, "missing" when the stream ended without saying.
    finish: str = "stop"
    usage_note: str = ""  # why the usage is an estimate ("" = as the server reported it)

    @property
    def complete(self) -> bool:
        return self.finish == "stop"


def estimate_tokens(text: str) -> int:
    """A provider-neutral token estimate: about 4 characters per token for English and JSON."""
    return max(1, (len(text) + 3) // 4) if text else 0


# Bounds of a believable usage figure. Byte-level BPE tokenisers never make more tokens than
# the text has UTF-8 bytes (plus a chat template's special tokens); no tokeniser puts 32
# characters of ordinary text in one token. A completion also cannot exceed max_tokens.
TEMPLATE_TOKENS = 256
CHARS_PER_TOKEN_MAX = 32


def request_text(req: ChatRequest) -> str:
    """Everything of ``req`` the model reads: system, messages and the JSON schema."""
    schema = json.dumps(req.json_schema) if req.json_schema is not None else ""
    return req.system + "".join(str(m.get("content", "")) for m in req.messages) + schema


def checked_usage(reported_in: Any, reported_out: Any, req: ChatRequest, text: str,
                  thought: str = "") -> tuple[int, int, str]:
    """(tokens_in, tokens_out, note): the server's figures when they are believable, else an
    estimate from the texts and a note saying why. A budget must never be defeated by a
    negative, non-integer or absurd count (-5,000,000 tokens once made a call cost -$15)."""
    prompt = request_text(req)
    answer = text + thought
    problems = []
    for name, value, chars, upper in (
        ("prompt", reported_in, len(prompt),
         len(prompt.encode("utf-8", "replace")) + TEMPLATE_TOKENS),
        ("completion", reported_out, len(answer),
         max(req.max_tokens, len(answer.encode("utf-8", "replace"))) + TEMPLATE_TOKENS),
    ):
        if value is None:
            problems.append(f"no {name} tokens")
        elif isinstance(value, bool) or not isinstance(value, int):
            problems.append(f"{name} tokens {str(value)[:20]!r} is not a whole number")
        elif value < 0 or value > upper:
            problems.append(f"{name} tokens {value} is outside 0-{upper}")
        elif value < chars // CHARS_PER_TOKEN_MAX:
            problems.append(f"{name} tokens {value} is too few for {chars} characters")
    if not problems:
        return reported_in, reported_out, ""
    missing = all(p.startswith("no ") for p in problems)
    note = ("usage estimated: the server sent none" if missing else
            "usage estimated: the server's figures were implausible (" + "; ".join(problems)
            + ")")
    return estimate_tokens(prompt), estimate_tokens(answer), note


class Provider(ABC):
    """Completes chat requests. ``name`` is the provider id users type (openai, anthropic...)."""

    name: str
    model: str

    @abstractmethod
    async def complete(self, req: ChatRequest, on_chunk: ChunkSink) -> Completion:
        """Stream the reply's text to ``on_chunk`` and return it whole with its usage."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release the HTTP client."""


class _Retryable(Exception):
    """Raised inside one attempt: the attempt may be repeated. ``final`` is raised if not."""

    def __init__(self, final: LLMError, retry_after: float | None = None) -> None:
        super().__init__(str(final))
        self.final = final
        self.retry_after = retry_after


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


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
            raise LLMBadResponse(f"the server sent a stream line longer than "
                                 f"{MAX_LINE_BYTES:,} bytes; stopped reading")
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
    return cr, 2 if buf[cr + 1:cr + 2] == b"\n" else 1


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


class HttpProvider(Provider):
    """Shared deadline / retry / error translation for providers spoken to over HTTP."""

    needs_key = True

    def __init__(
        self,
        name: str,
        base_url: str,
        model: str,
        api_key: str | None,
        *,
        timeout_s: float = 60.0,
        backoff_base_s: float = 0.5,
        max_retries: int = MAX_RETRIES,
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.model = model
        self._key = api_key or None
        self.timeout_s = timeout_s
        self.backoff_base_s = backoff_base_s
        self.max_retries = max_retries
        self.requests_sent = 0
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s, connect=min(CONNECT_TIMEOUT_S, timeout_s)),
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    # -- the shared call loop -------------------------------------------------------------

    async def _call(self, attempt: Callable[[ChunkSink], Awaitable[Completion]],
                    on_chunk: ChunkSink) -> Completion:
        """Run ``attempt`` under the total deadline, retrying what may be retried."""
        emitted = False

        def sink(text: str) -> None:
            nonlocal emitted
            emitted = True
            on_chunk(text)

        if self.needs_key and not self._key:
            raise LLMAuthError(
                f"no API key for {self.name}; set it with `oxbot keys set {self.name}`"
            )
        deadline = time.monotonic() + self.timeout_s
        try:
            async with asyncio.timeout(self.timeout_s):
                tries = 0
                while True:
                    tries += 1
                    try:
                        result = await attempt(sink)
                        result.attempts = tries
                        return result
                    except _Retryable as r:
                        # Once text reached the user a retry would repeat it: stop here.
                        if emitted or tries > self.max_retries:
                            raise r.final from None
                        delay = self._backoff(tries, r.retry_after)
                        if time.monotonic() + delay > deadline:
                            raise r.final from None
                        await asyncio.sleep(delay)
        except TimeoutError:
            raise LLMTimeout(
                f"no complete reply from {self.name} ({self.model}) within {self.timeout_s:g} s; "
                "raise timeout_s or check that the server is responding"
            ) from None

    def _backoff(self, tries: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return retry_after + random.uniform(0, 0.1 * max(retry_after, 0.1))
        base = self.backoff_base_s * (2 ** (tries - 1))
        return base * random.uniform(0.5, 1.5)

    async def _post_stream(self, url: str, body: dict[str, Any], headers: dict[str, str],
                           handle: Callable[[httpx.Response], Awaitable[Completion]]) -> Completion:
        """POST ``body`` and hand a 2xx streaming response to ``handle``; translate failures."""
        self.requests_sent += 1
        try:
            async with self._client.stream("POST", url, json=body, headers=headers) as resp:
                if resp.status_code >= 400:
                    raw = (await resp.aread()).decode("utf-8", "replace")
                    self._raise_http(resp.status_code, raw, resp.headers.get("retry-after"))
                return await handle(resp)
        except httpx.ConnectTimeout:
            raise _Retryable(LLMUnavailable(
                f"could not connect to {self.name} at {self.base_url} within "
                f"{CONNECT_TIMEOUT_S:g} s; check base_url and your network"
            )) from None
        except httpx.TimeoutException:
            raise LLMTimeout(
                f"{self.name} did not answer within the deadline ({self.timeout_s:g} s total, "
                f"{CONNECT_TIMEOUT_S:g} s to connect) at {self.base_url}"
            ) from None
        except httpx.TransportError as e:
            raise _Retryable(LLMUnavailable(
                f"could not reach {self.name} at {self.base_url}: {type(e).__name__} {e}; "
                "check base_url and your network"
            )) from None
        except httpx.HTTPError as e:  # a body that cannot be decoded, a closed stream
            raise LLMBadResponse(f"{self.name} at {self.base_url} sent a reply that could not "
                                 f"be read: {type(e).__name__} {self.scrub(str(e))}") from None

    def scrub(self, text: str) -> str:
        """Cap a server's text for an error message and remove the key if it was echoed."""
        text = " ".join(text.split())[:300]
        if self._key:
            text = text.replace(self._key, "***")
        return text

    def _raise_http(self, status: int, body: str, retry_after: str | None) -> None:
        detail = self.scrub(body)
        where = f"{self.name} ({self.model}) at {self.base_url}"
        if status in (401, 403):
            raise LLMAuthError(
                f"the API key for {self.name} was refused (HTTP {status}); "
                f"set it with `oxbot keys set {self.name}`"
            )
        if status == 429:
            raise _Retryable(LLMRateLimited(
                f"{where} is rate limiting us (HTTP 429): {detail}; lower the bot's cadence "
                "or raise your plan's limits"
            ), parse_retry_after(retry_after))
        if status >= 500:
            raise _Retryable(LLMUnavailable(
                f"{where} failed (HTTP {status}): {detail}; it may be overloaded, try later"
            ), parse_retry_after(retry_after))
        if status == 404:
            raise LLMBadRequest(
                f"{where} answered 404 ({detail}); check the model name and base_url"
            )
        error = LLMBadRequest(f"{where} rejected the request (HTTP {status}): {detail}")
        error.status, error.param = status, _error_param(body)
        raise error


def _error_param(body: str) -> str:
    """The request parameter an error body blames (OpenAI's ``error.param``), or ""."""
    try:
        err = json.loads(body).get("error")
    except (ValueError, AttributeError):
        return ""
    param = err.get("param") if isinstance(err, dict) else None
    return param if isinstance(param, str) else ""
