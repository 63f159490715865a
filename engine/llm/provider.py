"""The provider interface and the HTTP machinery every remote provider shares.

A provider turns one `ChatRequest` into one `Completion`, streaming text chunks to a callback as
they arrive. Remote providers share: a 5 s connect deadline and a total deadline over the whole
call (retries included), retries only on 429/5xx/network errors (jittered exponential backoff,
Retry-After honoured, at most 2), and translation of HTTP failures into `LLMError` kinds.
"""

from __future__ import annotations

import asyncio
import email.utils
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


def estimate_tokens(text: str) -> int:
    """A provider-neutral token estimate: about 4 characters per token for English and JSON."""
    return max(1, (len(text) + 3) // 4) if text else 0


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


async def iter_sse(response: httpx.Response) -> AsyncIterator[tuple[str, str]]:
    """Server-sent events as (event, data) pairs; multi-line data joined with newlines."""
    event, data = "", []  # type: str, list[str]
    async for line in response.aiter_lines():
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
        raise LLMBadRequest(f"{where} rejected the request (HTTP {status}): {detail}")
