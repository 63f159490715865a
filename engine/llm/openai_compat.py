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

How a reply ended: the first finish_reason other than "stop" sticks (a "length" or
"content_filter" followed by a "stop" is still cut off or filtered). We ask for one choice
(``n`` is never sent: 1): a chunk with several choices, or choices of more than one index in a
stream (an absent index is not index 0 when another one arrives), is refused - the pieces of
two choices must never be glued into one answer. A server that ignores ``stream: true``
answers a ``chat.completion`` object (https://platform.openai.com/docs/api-reference/chat/
object: choices[].message.content / refusal, finish_reason, usage), read by ``_read_json``.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from .errors import LLMBadRequest, LLMBadResponse
from .http_text import error_message
from .provider import (
    ChatRequest,
    ChunkSink,
    Completion,
    HttpProvider,
)
from .reading import Reading
from .sse import iter_sse

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

    def __init__(
        self, *args: Any, needs_key: bool = True, structured: str = "auto", **kwargs: Any
    ) -> None:
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
        async def attempt(reading: Reading) -> Completion:
            # Feature downgrades are not retries: loop until a mode is accepted.
            modes = list(self._modes()) if req.json_schema is not None else ["prompt"]
            while True:
                mode = modes[0]
                stream_opts = self._mkey not in _NO_STREAM_OPTIONS
                body = self._body(req, mode, stream_opts)
                try:
                    done = await self._post_stream(
                        f"{self.base_url}/chat/completions", body, self._headers(), reading, req
                    )
                except LLMBadRequest as e:
                    if not self._downgrade(e, modes, stream_opts):
                        raise
                    continue
                done.json_mode = mode
                return done

        return await self._call(attempt, on_chunk, req)

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

    async def _read(self, resp: httpx.Response, reading: Reading, req: ChatRequest) -> Completion:
        finish: str | None = None
        refused = False
        indexes: set[Any] = set()
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
                raise LLMBadResponse(
                    f"{self.name} reported an error mid-stream: {self.scrub(error_message(obj))}"
                )
            if obj.get("usage") is not None:
                self._usage(obj["usage"], reading)
            choices = obj.get("choices")
            if choices is None:
                continue  # a usage-only chunk (vLLM sends choices: null)
            if not isinstance(choices, list):
                raise self._bad("choices that are not a list", data)
            if len(choices) > 1:
                raise self._bad(f"{len(choices)} choices in one chunk (one was asked for)", data)
            for choice in choices:
                if not isinstance(choice, dict):
                    raise self._bad("a choice that is not an object", data)
                index = choice.get("index")
                if index is not None and (isinstance(index, bool) or not isinstance(index, int)):
                    raise self._bad("a choice index that is not a whole number", data)
                indexes.add(index)
                if len(indexes) > 1:
                    raise self._bad("choices of more than one index (one was asked for)", data)
                if index not in (0, None):
                    continue  # the only choice is not ours: the reply stays empty
                delta = choice.get("delta") or {}
                if not isinstance(delta, dict):
                    raise self._bad("a delta that is not an object", data)
                refused = self._take(delta, reading, data) or refused
                finish = _sticky(finish, self._reason(choice, data))
        return self._completion(reading, req, finish, refused)

    def _read_json(self, obj: dict[str, Any], reading: Reading, req: ChatRequest) -> Completion:
        """A whole ``chat.completion`` (the server ignored ``stream: true``)."""
        data = json.dumps(obj)[:2000]
        if obj.get("usage") is not None:
            self._usage(obj["usage"], reading)
        choices = obj.get("choices")
        if (
            not isinstance(choices, list)
            or len(choices) != 1
            or not isinstance(choices[0], dict)
            or choices[0].get("index", 0) != 0
        ):
            raise self._bad("a JSON reply without exactly one choice", data)
        message = choices[0].get("message")
        if not isinstance(message, dict):
            raise self._bad("a JSON reply whose choice has no message object", data)
        refused = self._take(message, reading, data)
        return self._completion(
            reading, req, _sticky(None, self._reason(choices[0], data)), refused
        )

    def _take(self, part: dict[str, Any], reading: Reading, data: str) -> bool:
        """Feed a delta's (or a message's) texts to ``reading``; whether it carried a
        refusal."""
        # DeepSeek-R1 style thinking (OpenRouter: "reasoning"): shown live, not the answer.
        think = part.get("reasoning_content") or part.get("reasoning")
        if isinstance(think, str) and think:
            reading.reasoning(think)
        text = part.get("content")
        if text is not None and not isinstance(text, str):
            raise self._bad("content that is not a string", data)
        if text:
            reading.answer(text)
        refusal = part.get("refusal")
        if isinstance(refusal, str) and refusal:
            reading.reasoning(refusal)
            return True
        return False

    def _reason(self, choice: dict[str, Any], data: str) -> str | None:
        reason = choice.get("finish_reason")
        if reason is not None and not isinstance(reason, str):
            raise self._bad("a finish_reason that is not a string", data)
        return reason or None

    @staticmethod
    def _usage(usage: Any, reading: Reading) -> None:
        reported = usage if isinstance(usage, dict) else {}
        reading.reported_in = reported.get("prompt_tokens", usage)
        reading.reported_out = reported.get("completion_tokens", usage)

    @staticmethod
    def _completion(
        reading: Reading, req: ChatRequest, finish: str | None, refused: bool
    ) -> Completion:
        tokens_in, tokens_out, note = reading.usage(req)
        return Completion(
            reading.text,
            tokens_in,
            tokens_out,
            usage_estimated=bool(note),
            finish="refusal" if refused else (finish or "missing"),
            usage_note=note,
            extra={"finish_reason": finish},
        )


def _sticky(finish: str | None, reason: str | None) -> str | None:
    """How the reply ended so far: a reason other than "stop" is never replaced."""
    if reason is None or (finish is not None and finish != "stop"):
        return finish
    return reason
