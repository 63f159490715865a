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
``pause_turn`` and ``tool_use`` do not, nor a stream that ends without one. The first stop
reason that is not a finished one sticks: a ``max_tokens`` followed by an ``end_turn`` is
still cut off. A server that ignores ``stream: true`` answers a Message object
(https://docs.anthropic.com/en/api/messages: ``content`` blocks, ``stop_reason``, ``usage``),
read by ``_read_json``.
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
)
from .reading import Reading
from .sse import iter_sse

FINISHED = ("end_turn", "stop_sequence")
ANTHROPIC_VERSION = "2023-06-01"


class AnthropicProvider(HttpProvider):
    def __init__(self, *args: Any, prefill: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.prefill = prefill

    async def complete(self, req: ChatRequest, on_chunk: ChunkSink) -> Completion:
        async def attempt(reading: Reading) -> Completion:
            done = await self._post_stream(
                f"{self.base_url}/v1/messages", self._body(req), self._headers(), reading, req
            )
            done.json_mode = "prefill" if self.prefill else "prompt"
            return done

        return await self._call(attempt, on_chunk, req)

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

    async def _read(self, resp: httpx.Response, reading: Reading, req: ChatRequest) -> Completion:
        stop: str | None = None
        async for event, data in iter_sse(resp):
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
                if err.get("type") in ("overloaded_error", "api_error") and not reading.has_text:
                    raise _Retryable(LLMUnavailable(f"anthropic is overloaded: {text}"))
                raise LLMBadResponse(f"anthropic reported an error mid-stream: {text}")
            if kind == "message_start":
                message = obj.get("message")
                usage = message.get("usage") if isinstance(message, dict) else None
                if not isinstance(usage, dict):
                    raise self._bad("a message_start without a usage object", data)
                reading.reported_in = usage.get("input_tokens")
            elif kind == "content_block_delta":
                delta = obj.get("delta")
                if not isinstance(delta, dict):
                    raise self._bad("a content_block_delta without a delta object", data)
                if delta.get("type") == "thinking_delta":
                    think = delta.get("thinking")
                    if isinstance(think, str) and think:
                        reading.reasoning(think)
                    continue
                if delta.get("type") != "text_delta":
                    continue  # tool input, signatures: not our answer
                chunk = delta.get("text")
                if not isinstance(chunk, str):
                    raise self._bad("a text_delta whose text is not a string", data)
                if chunk:
                    self._answer(chunk, reading)
            elif kind == "message_delta":
                delta = obj.get("delta")
                usage = obj.get("usage")
                if not isinstance(delta, dict) or not isinstance(usage, dict):
                    raise self._bad("a message_delta without delta and usage objects", data)
                stop = _sticky(stop, self._reason(delta, data))
                if "output_tokens" in usage:
                    reading.reported_out = usage["output_tokens"]
            elif kind == "message_stop":
                break
        return self._completion(reading, req, stop)

    def _read_json(self, obj: dict[str, Any], reading: Reading, req: ChatRequest) -> Completion:
        """A whole Message (the server ignored ``stream: true``)."""
        data = json.dumps(obj)[:2000]
        usage = obj.get("usage")
        if isinstance(usage, dict):
            reading.reported_in = usage.get("input_tokens")
            reading.reported_out = usage.get("output_tokens")
        blocks = obj.get("content")
        if obj.get("type") != "message" or not isinstance(blocks, list):
            raise self._bad("a JSON reply that is not a message", data)
        for block in blocks:
            if not isinstance(block, dict):
                raise self._bad("a content block that is not an object", data)
            if block.get("type") == "thinking" and isinstance(block.get("thinking"), str):
                reading.reasoning(block["thinking"])
            elif block.get("type") == "text":
                if not isinstance(block.get("text"), str):
                    raise self._bad("a text block whose text is not a string", data)
                if block["text"]:
                    self._answer(block["text"], reading)
        return self._completion(reading, req, _sticky(None, self._reason(obj, data)))

    def _answer(self, chunk: str, reading: Reading) -> None:
        # The prefilled "{" is shown with the first text: until then a retry is still clean.
        reading.answer("{" + chunk if self.prefill and not reading.has_text else chunk)

    def _reason(self, part: dict[str, Any], data: str) -> str | None:
        reason = part.get("stop_reason")
        if reason is not None and not isinstance(reason, str):
            raise self._bad("a stop_reason that is not a string", data)
        return reason or None

    def _completion(self, reading: Reading, req: ChatRequest, stop: str | None) -> Completion:
        text = reading.text if reading.has_text else ("{" if self.prefill else "")
        tokens_in, tokens_out, note = reading.usage(req)
        finish = "stop" if stop in FINISHED else (stop or "missing")
        return Completion(
            text,
            tokens_in,
            tokens_out,
            usage_estimated=bool(note),
            finish=finish,
            usage_note=note,
            extra={"stop_reason": stop},
        )


def _sticky(stop: str | None, reason: str | None) -> str | None:
    """How the reply ended so far: a reason that is not a finished one is never replaced."""
    if reason is None or (stop is not None and stop not in FINISHED):
        return stop
    return reason
