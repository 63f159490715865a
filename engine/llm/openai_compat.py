"""OpenAI-compatible chat completions: OpenAI, DeepSeek, Qwen (DashScope compatible mode),
OpenRouter, Ollama, vLLM, LM Studio - anything that speaks POST {base_url}/chat/completions.

Structured output is asked for with a JSON-schema `response_format`, then JSON mode, then
prompt-only JSON. A server that rejects one with an HTTP 400 gets the next weaker form, for
that request. Only a 400 that names ``response_format`` (OpenAI's ``error.param``, or the
message) is remembered per (base_url, model) for the process: one odd reply, or an unrelated
400, must not switch structured output off for good.

The stream, as OpenAI documents it (https://platform.openai.com/docs/api-reference/chat/
streaming; openai-python src/openai/types/chat/chat_completion_chunk.py): ``data:`` events of
``chat.completion.chunk`` objects whose ``choices[i].delta.content`` carries the text and whose
``finish_reason`` is null until the last one (stop / length / content_filter / tool_calls /
function_call); with ``stream_options.include_usage`` one more chunk with ``choices: []`` and
the ``usage``; then ``data: [DONE]`` (openai-python src/openai/_streaming.py). An event whose
data has an ``error`` object is an error (same file). A chunk of another shape is refused as a
whole reply: a broken stream is a counted failure, never a crash and never a decision.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from .errors import LLMBadRequest, LLMBadResponse
from .extract import MAX_REPLY_CHARS
from .provider import (
    ChatRequest,
    ChunkSink,
    Completion,
    HttpProvider,
    checked_usage,
    iter_sse,
)

# (base_url, model) -> the JSON modes still worth trying, strongest first.
_JSON_MODES: dict[tuple[str, str], list[str]] = {}
# (base_url, model) servers that rejected `stream_options` (older vLLM / proxies).
_NO_STREAM_OPTIONS: set[tuple[str, str]] = set()

# Words of a 400 about the JSON mode that does not name response_format: a fallback for this
# request only.
_FORMAT_WORDS = ("json_schema", "json_object", "json mode", "structured output", "guided")


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
            modes = list(self._modes()) if req.json_schema is not None else ["prompt"]
            while True:
                mode = modes[0]
                stream_opts = self._mkey not in _NO_STREAM_OPTIONS
                body = self._body(req, mode, stream_opts)
                try:
                    done = await self._post_stream(
                        f"{self.base_url}/chat/completions", body, self._headers(),
                        lambda resp: self._read(resp, sink, req),
                    )
                except LLMBadRequest as e:
                    if not self._downgrade(e, modes, stream_opts):
                        raise
                    continue
                done.json_mode = mode
                return done

        return await self._call(attempt, on_chunk)

    def _downgrade(self, error: LLMBadRequest, modes: list[str], stream_opts: bool) -> bool:
        """Whether to try again without the feature the 400 rejected; ``modes`` (this
        request's) loses its first entry when that was the JSON mode."""
        low = str(error).lower()
        if error.status not in (400, 422):
            return False
        if stream_opts and (error.param == "stream_options" or "stream_options" in low):
            _NO_STREAM_OPTIONS.add(self._mkey)
            return True
        names_format = error.param == "response_format" or "response_format" in low
        if modes[0] == "prompt" or not (names_format or any(w in low for w in _FORMAT_WORDS)):
            return False
        modes.pop(0)
        if names_format and error.status == 400 and self._structured != "prompt":
            _JSON_MODES[self._mkey] = list(modes)  # explicit: remembered for this endpoint
        return True

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
        thought: list[str] = []
        usage: Any = None
        finish: str | None = None
        refused = False
        size = 0
        async for _event, data in iter_sse(resp):
            if data.strip() == "[DONE]":
                break
            try:
                obj = json.loads(data)
            except (ValueError, RecursionError):
                raise self._bad("a stream line that is not JSON", data) from None
            if not isinstance(obj, dict):
                raise self._bad("a stream event that is not a JSON object", data)
            if obj.get("error"):
                raise LLMBadResponse(f"{self.name} reported an error mid-stream: "
                                     f"{self.scrub(json.dumps(obj['error']))}")
            if obj.get("usage") is not None:
                usage = obj["usage"]
            choices = obj.get("choices")
            if choices is None:
                continue  # a usage-only chunk (vLLM sends choices: null)
            if not isinstance(choices, list):
                raise self._bad("choices that are not a list", data)
            for choice in choices:
                if not isinstance(choice, dict):
                    raise self._bad("a choice that is not an object", data)
                if choice.get("index", 0) != 0:
                    continue  # we ask for one choice; another one is not our answer
                delta = choice.get("delta") or {}
                if not isinstance(delta, dict):
                    raise self._bad("a delta that is not an object", data)
                # DeepSeek-R1 style thinking (OpenRouter: "reasoning"): shown live, not part
                # of the answer.
                think = delta.get("reasoning_content") or delta.get("reasoning")
                if isinstance(think, str) and think:
                    thought.append(think)
                    sink(think)
                text = delta.get("content")
                if text is not None and not isinstance(text, str):
                    raise self._bad("content that is not a string", data)
                if text:
                    size += len(text)
                    if size > MAX_REPLY_CHARS:
                        raise LLMBadResponse(f"{self.name} sent more than {MAX_REPLY_CHARS:,} "
                                             "characters; stopped reading")
                    parts.append(text)
                    sink(text)
                refusal = delta.get("refusal")
                if isinstance(refusal, str) and refusal:
                    refused = True
                    sink(refusal)
                reason = choice.get("finish_reason")
                if reason is not None and not isinstance(reason, str):
                    raise self._bad("a finish_reason that is not a string", data)
                finish = reason or finish
        text = "".join(parts)
        reported = usage if isinstance(usage, dict) else {}
        tokens_in, tokens_out, note = checked_usage(
            reported.get("prompt_tokens", usage), reported.get("completion_tokens", usage),
            req, text, "".join(thought))
        return Completion(text, tokens_in, tokens_out, usage_estimated=bool(note),
                          finish="refusal" if refused else (finish or "missing"),
                          usage_note=note, extra={"finish_reason": finish})

    def _bad(self, what: str, data: str) -> LLMBadResponse:
        return LLMBadResponse(f"{self.name} sent {what}: {self.scrub(data)[:120]}; the reply "
                              "was not used")
