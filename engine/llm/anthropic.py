"""The Anthropic Messages API (POST {base_url}/v1/messages) over SSE.

JSON is asked for in the prompt only (the Messages API has no JSON mode); optionally the
assistant turn is prefilled with "{" so the model continues a JSON object.

The stream, as Anthropic documents it (https://docs.anthropic.com/en/docs/build-with-claude/
streaming): ``message_start`` (a Message with empty content; ``usage.input_tokens``), per
content block a ``content_block_start``, ``content_block_delta`` events (``text_delta`` with
``text``; ``thinking_delta`` with ``thinking`` for extended thinking) and a
``content_block_stop``; one or more ``message_delta`` (``delta.stop_reason``, cumulative
``usage.output_tokens``); a final ``message_stop``. ``ping`` events may come anywhere, an
``error`` event (e.g. ``overloaded_error``) may replace the rest, and new event types may be
added (to be ignored). Stop reasons (https://docs.anthropic.com/en/api/handling-stop-reasons):
``end_turn`` and ``stop_sequence`` end a finished answer; ``max_tokens``, ``refusal``,
``pause_turn`` and ``tool_use`` do not, nor a stream that ends without one.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from .errors import LLMBadResponse, LLMUnavailable
from .extract import MAX_REPLY_CHARS
from .provider import (
    ChatRequest,
    ChunkSink,
    Completion,
    HttpProvider,
    _Retryable,
    checked_usage,
)
from .provider import iter_sse as _iter_sse

FINISHED = ("end_turn", "stop_sequence")
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
        thought: list[str] = []
        tokens_in: Any = None
        tokens_out: Any = None
        stop: str | None = None
        size = 0
        if self.prefill:
            parts.append("{")  # shown with the first delta: until then a retry is still clean
        async for event, data in _iter_sse(resp):
            try:
                obj = json.loads(data)
            except (ValueError, RecursionError):
                raise self._bad("a stream line that is not JSON", data) from None
            if not isinstance(obj, dict):
                raise self._bad("a stream event that is not a JSON object", data)
            kind = obj.get("type", event)
            if kind == "error":
                err = obj.get("error")
                err = err if isinstance(err, dict) else {}
                text = self.scrub(json.dumps(err))
                if err.get("type") in ("overloaded_error", "api_error") and len(parts) <= 1:
                    raise _Retryable(LLMUnavailable(f"anthropic is overloaded: {text}"))
                raise LLMBadResponse(f"anthropic reported an error mid-stream: {text}")
            if kind == "message_start":
                message = obj.get("message")
                usage = message.get("usage") if isinstance(message, dict) else None
                if not isinstance(usage, dict):
                    raise self._bad("a message_start without a usage object", data)
                tokens_in = usage.get("input_tokens")
            elif kind == "content_block_delta":
                delta = obj.get("delta")
                if not isinstance(delta, dict):
                    raise self._bad("a content_block_delta without a delta object", data)
                if delta.get("type") == "thinking_delta":
                    think = delta.get("thinking")
                    if isinstance(think, str) and think:
                        thought.append(think)
                        sink(think)
                    continue
                if delta.get("type") != "text_delta":
                    continue  # tool input, signatures: not our answer
                chunk = delta.get("text")
                if not isinstance(chunk, str):
                    raise self._bad("a text_delta whose text is not a string", data)
                if not chunk:
                    continue
                size += len(chunk)
                if size > MAX_REPLY_CHARS:
                    raise LLMBadResponse(f"anthropic sent more than {MAX_REPLY_CHARS:,} "
                                         "characters; stopped reading")
                if self.prefill and len(parts) == 1:
                    chunk = "{" + chunk
                    parts[0] = ""
                parts.append(chunk)
                sink(chunk)
            elif kind == "message_delta":
                delta = obj.get("delta")
                usage = obj.get("usage")
                if not isinstance(delta, dict) or not isinstance(usage, dict):
                    raise self._bad("a message_delta without delta and usage objects", data)
                reason = delta.get("stop_reason")
                if reason is not None and not isinstance(reason, str):
                    raise self._bad("a stop_reason that is not a string", data)
                stop = reason or stop
                if "output_tokens" in usage:
                    tokens_out = usage["output_tokens"]
            elif kind == "message_stop":
                break
        text = "".join(parts)
        tokens_in, tokens_out, note = checked_usage(tokens_in, tokens_out, req, text,
                                                    "".join(thought))
        finish = "stop" if stop in FINISHED else (stop or "missing")
        return Completion(text, tokens_in, tokens_out, usage_estimated=bool(note),
                          finish=finish, usage_note=note, extra={"stop_reason": stop})

    def _bad(self, what: str, data: str) -> LLMBadResponse:
        return LLMBadResponse(f"anthropic sent {what}: {self.scrub(data)[:120]}; the reply "
                              "was not used")
