"""The provider interface and the HTTP machinery every remote provider shares.

A provider turns one `ChatRequest` into one `Completion`, streaming text chunks to a callback as
they arrive. Remote providers share: a 5 s connect deadline and a total deadline over the whole
call (retries included), retries only on 429/5xx/network errors (jittered exponential backoff,
Retry-After honoured when it can be read, at most 2), translation of HTTP failures into
`LLMError` kinds with the server's text quoted (secrets blanked BEFORE it is cut to length), a
server-sent-events reader (sse.py), bounded reading and usage checks (reading.py, usage.py).

A 2xx answer that is not an event stream is read for what it is: a JSON error body ("model not
loaded") is an error with its message, a JSON completion (a server that ignored
``stream: true``) is read as the reply, anything else is refused with its text quoted.

An `LLMError` raised by `HttpProvider` carries ``spent`` (a `usage.Spent`, or None): what the
call is charged because it failed after the request went out (reading.py says when).

A `Completion` says how the reply ended (``finish``): only ``"stop"`` is a finished answer. A
reply cut at the token limit, filtered, refused or whose stream ended without saying why is
never read as a decision (the strategy turns it into a counted HOLD).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from ..errors import LLMError
from ..textsafe import SecretText
from .errors import (
    LLMAuthError,
    LLMBadRequest,
    LLMBadResponse,
    LLMRateLimited,
    LLMTimeout,
    LLMUnavailable,
)
from .http_text import (  # noqa: F401 - parse_retry_after re-exported
    error_message,
    error_param,
    is_json,
    media_type,
    parse_retry_after,
    read_capped,
)
from .reading import Reading
from .sse import MAX_LINE_BYTES, iter_sse, sse_lines  # noqa: F401 - re-exported
from .usage import (  # noqa: F401 - re-exported: callers import them from here
    CHARS_PER_TOKEN_MAX,
    TEMPLATE_TOKENS,
    Spent,
    checked_usage,
    estimate_tokens,
    request_text,
)

ChunkSink = Callable[[str], None]
CONNECT_TIMEOUT_S = 5.0
MAX_RETRIES = 2
MAX_ERROR_BYTES = 65_536  # of an error body: enough for any message, bounded for a hostile one
MAX_JSON_BYTES = 1_000_000  # of a JSON reply (a completion that ignored stream: true)
TEXT_CAP = 300  # characters of a server's text quoted in an error


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


class HttpProvider(Provider):
    """Shared deadline / retry / error translation for providers spoken to over HTTP.

    ``redact`` (from the composition root: every registered secret) blanks other secrets from
    the server's texts; the provider's own key is blanked in any case.
    """

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
        redact: Callable[[str], str] | None = None,
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.model = model
        self._key = api_key or None
        self._secrets = SecretText([api_key] if api_key else [])
        self._redact = redact
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

    @property
    def where(self) -> str:
        return f"{self.name} ({self.model}) at {self.base_url}"

    # -- the shared call loop -------------------------------------------------------------

    async def _call(
        self,
        attempt: Callable[[Reading], Awaitable[Completion]],
        on_chunk: ChunkSink,
        req: ChatRequest,
    ) -> Completion:
        """Run ``attempt`` under the total deadline, retrying what may be retried. What each
        failed attempt costs is added to the result, or to the error raised (``spent``)."""
        emitted = False

        def sink(text: str) -> None:
            nonlocal emitted
            emitted = True
            on_chunk(text)

        if self.needs_key and not self._key:
            raise LLMAuthError(
                f"no API key for {self.name}; set it with `oxbot keys set {self.name}`"
            )
        charges: list[Spent] = []
        reading: Reading | None = None

        def settle() -> None:
            nonlocal reading
            if reading is not None and (spent := reading.spent(req)) is not None:
                charges.append(spent)
            reading = None

        deadline = time.monotonic() + self.timeout_s
        try:
            async with asyncio.timeout(self.timeout_s):
                tries = 0
                while True:
                    tries += 1
                    reading = Reading(self.name, sink)
                    try:
                        result = await attempt(reading)
                        result.attempts = tries
                        return _with_charges(result, charges)
                    except _Retryable as r:
                        settle()
                        # Once text reached the user a retry would repeat it: stop here.
                        if emitted or tries > self.max_retries:
                            raise r.final from None
                        delay = self._backoff(tries, r.retry_after)
                        if time.monotonic() + delay > deadline:
                            raise r.final from None
                        await asyncio.sleep(delay)
        except TimeoutError:
            settle()
            raise _charged(
                LLMTimeout(
                    f"no complete reply from {self.name} ({self.model}) within "
                    f"{self.timeout_s:g} s; raise timeout_s or check that the server is responding"
                ),
                charges,
            ) from None
        except LLMError as e:
            settle()
            raise _charged(e, charges) from None

    def _backoff(self, tries: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return retry_after + random.uniform(0, 0.1 * max(retry_after, 0.1))
        base: float = self.backoff_base_s * (2 ** (tries - 1))
        return base * random.uniform(0.5, 1.5)

    async def _post_stream(
        self,
        url: str,
        body: dict[str, Any],
        headers: dict[str, str],
        reading: Reading,
        req: ChatRequest,
    ) -> Completion:
        """POST ``body``; read a 2xx event stream with ``_read``, a 2xx JSON body with
        ``_read_json``; translate failures."""
        self.requests_sent += 1
        reading.begin()
        try:
            async with self._client.stream(
                "POST", url, json=body, headers=headers, extensions={"trace": reading.trace}
            ) as resp:
                if resp.status_code >= 400:
                    reading.refused = True
                    raw, _more = await read_capped(resp, MAX_ERROR_BYTES)
                    self._raise_http(
                        resp.status_code,
                        raw.decode("utf-8", "replace"),
                        resp.headers.get("retry-after"),
                    )
                media = media_type(resp)
                if media in ("", "text/event-stream"):
                    return await self._read(resp, reading, req)
                return await self._not_a_stream(resp, media, reading, req)
        except httpx.ConnectTimeout:
            raise _Retryable(
                LLMUnavailable(
                    f"could not connect to {self.name} at {self.base_url} within "
                    f"{CONNECT_TIMEOUT_S:g} s; check base_url and your network"
                )
            ) from None
        except httpx.TimeoutException:
            raise LLMTimeout(
                f"{self.name} did not answer within the deadline ({self.timeout_s:g} s total, "
                f"{CONNECT_TIMEOUT_S:g} s to connect) at {self.base_url}"
            ) from None
        except httpx.TransportError as e:
            raise _Retryable(
                LLMUnavailable(
                    f"could not reach {self.name} at {self.base_url}: {type(e).__name__} "
                    f"{self.scrub(str(e))}; check base_url and your network"
                )
            ) from None
        except httpx.HTTPError as e:  # a body that cannot be decoded, a closed stream
            raise LLMBadResponse(
                f"{self.name} at {self.base_url} sent a reply that could not "
                f"be read: {type(e).__name__} {self.scrub(str(e))}"
            ) from None

    async def _not_a_stream(
        self, resp: httpx.Response, media: str, reading: Reading, req: ChatRequest
    ) -> Completion:
        """A 2xx answer that is not an event stream: a JSON error, a JSON completion (the
        server ignored ``stream: true``), or something else quoted in the error."""
        raw, more = await read_capped(resp, MAX_JSON_BYTES)
        text = raw.decode("utf-8", "replace")
        what = f"{self.where} answered HTTP {resp.status_code} with {media}, not an event stream"
        if more or not is_json(media):
            reading.refused = True
            size = f"more than {MAX_JSON_BYTES:,} bytes" if more else self.scrub(text)
            raise LLMBadResponse(f"{what}: {size}; check base_url")
        try:
            obj = json.loads(text)
        except (ValueError, RecursionError):
            reading.refused = True
            raise LLMBadResponse(
                f"{what} and the JSON could not be read: {self.scrub(text)}"
            ) from None
        message = error_message(obj)
        if message:
            reading.refused = True
            raise LLMBadResponse(f"{what}: an error: {self.scrub(message)}")
        if not isinstance(obj, dict):
            reading.refused = True
            raise LLMBadResponse(f"{what}: {self.scrub(text)}")
        return self._read_json(obj, reading, req)

    async def _read(self, resp: httpx.Response, reading: Reading, req: ChatRequest) -> Completion:
        raise NotImplementedError

    def _read_json(self, obj: dict[str, Any], reading: Reading, req: ChatRequest) -> Completion:
        raise NotImplementedError

    # -- texts ----------------------------------------------------------------------------

    def blank(self, text: str) -> str:
        """``text`` with the key (whole or any 12+ characters of it) and every other known
        secret blanked."""
        text = self._secrets.blank(text)
        return self._redact(text) if self._redact is not None else text

    def scrub(self, text: str, cap: int = TEXT_CAP) -> str:
        """A server's text fit for an error message: secrets blanked FIRST, then cut to
        ``cap`` characters (cut first, a key straddling the cut once left 45 of its 50
        characters, which no later redaction recognised)."""
        return " ".join(self.blank(text).split())[:cap]

    def _bad(self, what: str, data: str) -> LLMBadResponse:
        return LLMBadResponse(
            f"{self.name} sent {what}: {self.scrub(data, 120)}; the reply was not used"
        )

    def _raise_http(self, status: int, body: str, retry_after: str | None) -> None:
        detail = self.scrub(body)
        where = self.where
        if status in (401, 403):
            raise LLMAuthError(
                f"the API key for {self.name} was refused (HTTP {status}); "
                f"set it with `oxbot keys set {self.name}`"
            )
        if status == 429:
            raise _Retryable(
                LLMRateLimited(
                    f"{where} is rate limiting us (HTTP 429): {detail}; lower the bot's cadence "
                    "or raise your plan's limits"
                ),
                parse_retry_after(retry_after),
            )
        if status >= 500:
            raise _Retryable(
                LLMUnavailable(
                    f"{where} failed (HTTP {status}): {detail}; it may be overloaded, try later"
                ),
                parse_retry_after(retry_after),
            )
        if status == 404:
            raise LLMBadRequest(
                f"{where} answered 404 ({detail}); check the model name and base_url"
            )
        error = LLMBadRequest(f"{where} rejected the request (HTTP {status}): {detail}")
        error.status, error.param = status, error_param(body)
        raise error


def _charged(error: LLMError, charges: list[Spent]) -> LLMError:
    error.spent = sum(charges[1:], charges[0]) if charges else None
    return error


def _with_charges(result: Completion, charges: list[Spent]) -> Completion:
    """The completion, plus what the failed attempts before it cost."""
    if not charges:
        return result
    spent = sum(charges[1:], charges[0])
    result.tokens_in += spent.tokens_in
    result.tokens_out += spent.tokens_out
    result.usage_estimated = result.usage_estimated or spent.usage_estimated
    result.usage_note = "; ".join(n for n in (result.usage_note, spent.usage_note) if n)
    return result
