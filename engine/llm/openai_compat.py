"""OpenAI-compatible chat completions: OpenAI, DeepSeek, Qwen (DashScope compatible mode),
OpenRouter, Ollama, vLLM, LM Studio - anything that speaks POST {base_url}/chat/completions.

Structured output is asked for with a JSON-schema `response_format`, then JSON mode, then
prompt-only JSON. When a server rejects a feature with 400 (or ignores it), the next weaker
form is used and the finding is remembered per (base_url, model) for the process, so the
rejection costs one extra request once, not on every decision.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from .errors import LLMBadRequest, LLMBadResponse
from .provider import ChatRequest, ChunkSink, Completion, HttpProvider, estimate_tokens, iter_sse

# (base_url, model) -> the JSON modes still worth trying, strongest first.
_JSON_MODES: dict[tuple[str, str], list[str]] = {}
# (base_url, model) servers that rejected `stream_options` (older vLLM / proxies).
_NO_STREAM_OPTIONS: set[tuple[str, str]] = set()

_FORMAT_WORDS = ("response_format", "json_schema", "json_object", "json mode", "schema",
                 "guided", "format")


def remembered_json_mode(base_url: str, model: str) -> str:
    """The JSON mode the next request to this server/model will use (for tests and display)."""
    modes = _JSON_MODES.get((base_url.rstrip("/"), model))
    return modes[0] if modes else "schema"


class OpenAICompatProvider(HttpProvider):
    """Chat completions over SSE with usage from the final chunk (``stream_options``)."""

    def __init__(self, *args: Any, needs_key: bool = True, structured: str = "auto",
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.needs_key = needs_key
        self._structured = structured  # "auto" or "prompt"

    @property
    def _mkey(self) -> tuple[str, str]:
        return (self.base_url, self.model)

    def _modes(self) -> list[str]:
        if self._structured == "prompt":
            return ["prompt"]
        return _JSON_MODES.setdefault(self._mkey, ["schema", "json_object", "prompt"])

    async def complete(self, req: ChatRequest, on_chunk: ChunkSink) -> Completion:
        async def attempt(sink: ChunkSink) -> Completion:
            # Feature downgrades are not retries: loop until a mode is accepted.
            while True:
                mode = self._modes()[0] if req.json_schema is not None else "prompt"
                stream_opts = self._mkey not in _NO_STREAM_OPTIONS
                body = self._body(req, mode, stream_opts)
                try:
                    done = await self._post_stream(
                        f"{self.base_url}/chat/completions", body, self._headers(),
                        lambda resp: self._read(resp, sink, req),
                    )
                except LLMBadRequest as e:
                    if not self._downgrade(str(e), mode, stream_opts):
                        raise
                    continue
                done.json_mode = mode
                if mode != "prompt" and not _is_bare_json(done.text):
                    # The server ignored response_format: stop sending it.
                    self._forget_modes_down_to("prompt")
                return done

        return await self._call(attempt, on_chunk)

    def _downgrade(self, error: str, mode: str, stream_opts: bool) -> bool:
        low = error.lower()
        if stream_opts and "stream_options" in low:
            _NO_STREAM_OPTIONS.add(self._mkey)
            return True
        if mode != "prompt" and any(w in low for w in _FORMAT_WORDS):
            modes = self._modes()
            if len(modes) > 1:
                modes.pop(0)
                return True
        return False

    def _forget_modes_down_to(self, mode: str) -> None:
        if self._structured != "prompt":
            _JSON_MODES[self._mkey] = [mode]

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "text/event-stream"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        if self.name == "openrouter":
            headers["X-Title"] = "oxbot"
        return headers

    def _body(self, req: ChatRequest, mode: str, stream_opts: bool) -> dict[str, Any]:
        messages = [{"role": "system", "content": req.system}, *req.messages]
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "max_tokens": req.max_tokens,
            "temperature": req.temperature,
            "stream": True,
        }
        if stream_opts:
            body["stream_options"] = {"include_usage": True}
        if mode == "schema" and req.json_schema is not None:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "decision", "schema": req.json_schema, "strict": False},
            }
        elif mode == "json_object":
            body["response_format"] = {"type": "json_object"}
        return body

    async def _read(self, resp: httpx.Response, sink: ChunkSink, req: ChatRequest) -> Completion:
        parts: list[str] = []
        usage: dict[str, Any] | None = None
        finish = None
        async for _event, data in iter_sse(resp):
            if data.strip() == "[DONE]":
                break
            try:
                obj = json.loads(data)
            except json.JSONDecodeError:
                raise LLMBadResponse(
                    f"{self.name} sent a stream line that is not JSON: {self.scrub(data)[:120]}"
                ) from None
            if isinstance(obj, dict) and obj.get("error"):
                raise LLMBadResponse(f"{self.name} reported an error mid-stream: "
                                     f"{self.scrub(json.dumps(obj['error']))}")
            if isinstance(obj, dict) and isinstance(obj.get("usage"), dict):
                usage = obj["usage"]
            for choice in (obj.get("choices") or []) if isinstance(obj, dict) else []:
                delta = choice.get("delta") or {}
                # DeepSeek-R1 style thinking: shown live, not part of the answer.
                think = delta.get("reasoning_content")
                if isinstance(think, str) and think:
                    sink(think)
                text = delta.get("content")
                if isinstance(text, str) and text:
                    parts.append(text)
                    sink(text)
                finish = choice.get("finish_reason") or finish
        text = "".join(parts)
        prompt_chars = req.system + "".join(m["content"] for m in req.messages)
        if usage and isinstance(usage.get("prompt_tokens"), int):
            return Completion(text, usage["prompt_tokens"], int(usage.get("completion_tokens")
                                                                 or 0),
                              extra={"finish_reason": finish})
        return Completion(text, estimate_tokens(prompt_chars), estimate_tokens(text),
                          usage_estimated=True, extra={"finish_reason": finish})


def _is_bare_json(text: str) -> bool:
    try:
        json.loads(text.strip())
    except (ValueError, RecursionError):
        return False
    return True
