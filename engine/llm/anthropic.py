"""The Anthropic Messages API (POST {base_url}/v1/messages) over SSE.

JSON is asked for in the prompt only (the Messages API has no JSON mode); optionally the
assistant turn is prefilled with "{" so the model continues a JSON object. Usage comes from
`message_start` (input tokens) and `message_delta` (output tokens).
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from .errors import LLMBadResponse, LLMUnavailable
from .provider import (
    ChatRequest,
    ChunkSink,
    Completion,
    HttpProvider,
    _Retryable,
    estimate_tokens,
)
from .provider import iter_sse as _iter_sse

ANTHROPIC_VERSION = "2023-06-01"


class AnthropicProvider(HttpProvider):
    def __init__(self, *args: Any, prefill: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.prefill = prefill

    async def complete(self, req: ChatRequest, on_chunk: ChunkSink) -> Completion:
        async def attempt(sink: ChunkSink) -> Completion:
            done = await self._post_stream(
                f"{self.base_url}/v1/messages", self._body(req), self._headers(),
                lambda resp: self._read(resp, sink, req),
            )
            done.json_mode = "prefill" if self.prefill else "prompt"
            return done

        return await self._call(attempt, on_chunk)

    def _headers(self) -> dict[str, str]:
        return {
            "x-api-key": self._key or "",
            "anthropic-version": ANTHROPIC_VERSION,
            "Accept": "text/event-stream",
        }

    def _body(self, req: ChatRequest) -> dict[str, Any]:
        messages: list[dict[str, str]] = list(req.messages)
        if self.prefill:
            messages.append({"role": "assistant", "content": "{"})
        return {
            "model": self.model,
            "system": req.system,
            "messages": messages,
            "max_tokens": req.max_tokens,
            "temperature": min(req.temperature, 1.0),
            "stream": True,
        }

    async def _read(self, resp: httpx.Response, sink: ChunkSink, req: ChatRequest) -> Completion:
        parts: list[str] = []
        tokens_in: int | None = None
        tokens_out: int | None = None
        if self.prefill:
            parts.append("{")  # shown with the first delta: until then a retry is still clean
        async for event, data in _iter_sse(resp):
            try:
                obj = json.loads(data)
            except json.JSONDecodeError:
                raise LLMBadResponse(
                    f"anthropic sent a stream line that is not JSON: {self.scrub(data)[:120]}"
                ) from None
            kind = obj.get("type", event) if isinstance(obj, dict) else event
            if kind == "error":
                err = obj.get("error") or {}
                text = self.scrub(json.dumps(err))
                if err.get("type") in ("overloaded_error", "api_error") and len(parts) <= 1:
                    raise _Retryable(LLMUnavailable(f"anthropic is overloaded: {text}"))
                raise LLMBadResponse(f"anthropic reported an error mid-stream: {text}")
            if kind == "message_start":
                usage = (obj.get("message") or {}).get("usage") or {}
                if isinstance(usage.get("input_tokens"), int):
                    tokens_in = usage["input_tokens"]
            elif kind == "content_block_delta":
                delta = obj.get("delta") or {}
                chunk = delta.get("text")
                if delta.get("type") == "text_delta" and isinstance(chunk, str) and chunk:
                    if self.prefill and len(parts) == 1:
                        chunk = "{" + chunk
                        parts[0] = ""
                    parts.append(chunk)
                    sink(chunk)
            elif kind == "message_delta":
                usage = obj.get("usage") or {}
                if isinstance(usage.get("output_tokens"), int):
                    tokens_out = usage["output_tokens"]
            elif kind == "message_stop":
                break
        text = "".join(parts)
        estimated = tokens_in is None or tokens_out is None
        if tokens_in is None:
            tokens_in = estimate_tokens(req.system + "".join(m["content"] for m in req.messages))
        if tokens_out is None:
            tokens_out = estimate_tokens(text)
        return Completion(text, tokens_in, tokens_out, usage_estimated=estimated)
