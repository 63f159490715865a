"""Fake LLM servers (OpenAI-compatible and Anthropic) on 127.0.0.1, shared by the llm and
llm_engine tests.

Real HTTP servers in a thread: httpx talks to them over TCP exactly as it would to a provider.
A test scripts replies with `Reply` objects (queued with ``then``, or a ``handler`` function of
the request); every request is recorded with its arrival time.

They are as strict as the real APIs, modelled from the providers' own references, NOT from
what oxbot sends; each behaviour names where it was read:

OpenAI chat completions
  [OA-create] https://platform.openai.com/docs/api-reference/chat/create - POST
      /v1/chat/completions; ``model`` and ``messages`` required; roles system, developer,
      user, assistant, tool; temperature 0-2; ``response_format`` type text, json_object or
      json_schema (``json_schema.name`` matching ^[a-zA-Z0-9_-]{1,64}$, plus ``schema``);
      ``stream_options`` "only set this when you set stream: true".
  [OA-json] https://platform.openai.com/docs/guides/structured-outputs (JSON mode): with
      ``json_object`` the messages must contain the word "JSON", else HTTP 400.
  [OA-stream] https://platform.openai.com/docs/api-reference/chat/streaming and openai-python
      src/openai/types/chat/chat_completion_chunk.py: ``chat.completion.chunk`` objects (id,
      object, created, model, choices[index, delta{role, content}, finish_reason]);
      finish_reason null until the last (stop, length, content_filter, tool_calls); with
      ``stream_options.include_usage`` every chunk has ``usage: null`` and one more chunk with
      ``choices: []`` carries the usage; the stream ends with ``data: [DONE]``
      (openai-python src/openai/_streaming.py).
  [OA-errors] https://platform.openai.com/docs/guides/error-codes - error bodies
      ``{"error": {"message", "type", "param", "code"}}``; 401 invalid_api_key; 429 with
      Retry-After; 500/503 server errors. Unknown request fields are refused ("Unrecognized
      request argument supplied: <name>").
Anthropic messages
  [AN-create] https://docs.anthropic.com/en/api/messages - POST /v1/messages; headers
      ``x-api-key`` and ``anthropic-version`` required; body ``model``, ``max_tokens``,
      ``messages`` required; roles user and assistant only (system is a top-level field);
      temperature 0-1; a final assistant turn is a prefill and may not end in whitespace.
  [AN-errors] https://docs.anthropic.com/en/api/errors - ``{"type": "error", "error": {"type",
      "message"}}``; 400 invalid_request_error, 401 authentication_error, 429
      rate_limit_error (Retry-After), 500 api_error, 529 overloaded_error; unknown fields are
      refused ("<name>: Extra inputs are not permitted").
  [AN-stream] https://docs.anthropic.com/en/docs/build-with-claude/streaming - message_start
      (Message with empty content, usage.input_tokens), content_block_start / ping /
      content_block_delta (text_delta, thinking_delta) / content_block_stop, message_delta
      (delta.stop_reason, usage.output_tokens), message_stop; each SSE ``event:`` name equals
      the data's ``type``. Stop reasons (https://docs.anthropic.com/en/api/
      handling-stop-reasons): end_turn, max_tokens, stop_sequence, tool_use, pause_turn,
      refusal.
Both stream with HTTP/1.1 chunked transfer encoding, as the real APIs do, so a connection
dropped mid-stream is an incomplete body to the client, not a clean end.
Not a stream (``Reply.content_type`` other than text/event-stream, with ``body``): what a
server that ignores ``stream: true`` answers - a whole completion, [OA-object]
https://platform.openai.com/docs/api-reference/chat/object (``chat.completion``:
choices[].message.content / refusal, finish_reason, usage) or [AN-create]'s Message
(``content`` blocks, stop_reason, usage) - or what a proxy or a local server answers with
HTTP 200 instead of a stream (a JSON ``{"error": {...}}`` body, an HTML page).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

OPENAI_FIELDS = {
    "model",
    "messages",
    "stream",
    "stream_options",
    "temperature",
    "max_tokens",
    "max_completion_tokens",
    "response_format",
    "top_p",
    "n",
    "stop",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "user",
    "tools",
    "tool_choice",
    "logprobs",
    "top_logprobs",
    "parallel_tool_calls",
    "reasoning_effort",
    "metadata",
    "store",
    "service_tier",
    "modalities",
}
ANTHROPIC_FIELDS = {
    "model",
    "messages",
    "max_tokens",
    "system",
    "stream",
    "temperature",
    "top_p",
    "top_k",
    "stop_sequences",
    "metadata",
    "tools",
    "tool_choice",
    "thinking",
    "service_tier",
}
SCHEMA_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


@dataclass
class Reply:
    """One scripted answer. ``text`` is the completion; ``status`` >= 400 sends ``body``."""

    text: str = ""
    status: int = 200
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    chunk: int = 7  # characters per SSE event
    usage: Any = (321, 54)  # (in, out); anything else is sent as the usage object itself
    stall_s: float = 0.0  # sleep after the first chunk (a stream that stops moving)
    finish: str | None = "stop"  # OpenAI finish_reason / Anthropic stop_reason; None: none
    think: str = ""  # reasoning streamed before the answer (reasoning_content / thinking)
    raw: list[str] | None = None  # SSE event texts sent instead of the generated ones
    drop_after: int | None = None  # close the connection after this many events
    forever: bool = False  # after the text, keep sending a space every 50 ms, never finish
    ascii_only: bool = True  # False: JSON written with raw non-ASCII (U+2028 stays raw)
    content_type: str = "text/event-stream"  # another type sends ``body`` whole (status 200)
    pace_s: float = 0.0  # sleep after every event (a slow stream)
    # After the text, end the body cleanly (the terminating chunk) with no finish_reason, no
    # usage and no ``data: [DONE]``: what a proxy or local server that lost its upstream sends.
    # The real API always ends with a finish_reason chunk and [DONE] ([OA-stream]), so this is
    # a broken transport, not an answer. (``raw=[]``: an empty 200 text/event-stream body.)
    cut_clean: bool = False


@dataclass
class Seen:
    """One request the fake server received."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    at: float

    @property
    def is_repair(self) -> bool:
        # The repair re-ask replays the reply as an assistant turn.
        return (
            sum(
                1
                for m in self.body.get("messages", [])
                if m.get("role") == "assistant" and m.get("content") != "{"
            )
            > 0
        )

    @property
    def user_text(self) -> str:
        msgs = [m for m in self.body.get("messages", []) if m.get("role") == "user"]
        return str(msgs[0]["content"]) if msgs else ""


class FakeLLMServer:
    def __init__(self, kind: str, api_key: str | None = None) -> None:
        self.kind = kind
        self.api_key = api_key  # None: any key (or none, for OpenAI-compatible local servers)
        self.script: list[Reply] = []
        self.handler: Callable[[Seen], Reply] | None = None
        self.requests: list[Seen] = []
        self.refused: list[tuple[int, str]] = []  # requests the strict checks turned away
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}" + ("/v1" if self.kind == "openai" else "")

    def start(self) -> FakeLLMServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self.stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)

    def then(self, *replies: Reply | str) -> FakeLLMServer:
        """Queue replies; the last one repeats when the queue runs dry."""
        self.script += [r if isinstance(r, Reply) else Reply(r) for r in replies]
        return self

    def _next(self, seen: Seen) -> Reply:
        if self.handler is not None:
            return self.handler(seen)
        if len(self.script) > 1:
            return self.script.pop(0)
        return self.script[0] if self.script else Reply("{}")

    # ------------------------------------------------------------------ strict checks

    def check(self, path: str, headers: dict[str, str], body: Any) -> tuple[int, dict] | None:
        """(status, error body) when the real API would refuse the request, else None."""
        return (self._check_openai if self.kind == "openai" else self._check_anthropic)(
            path, headers, body
        )

    def _check_openai(self, path: str, headers: dict[str, str], body: Any) -> Any:
        def bad(
            msg: str, param: str | None = None, status: int = 400, code: str | None = None
        ) -> tuple[int, dict]:
            return status, {
                "error": {
                    "message": msg,
                    "type": "invalid_request_error",
                    "param": param,
                    "code": code,
                }
            }

        if path != "/v1/chat/completions":  # [OA-errors]
            return bad(f"Invalid URL (POST {path})", status=404)
        auth = headers.get("authorization", "")
        if self.api_key is not None and auth != f"Bearer {self.api_key}":  # [OA-errors]
            return bad("Incorrect API key provided.", status=401, code="invalid_api_key")
        if not isinstance(body, dict):
            return bad("We could not parse the JSON body of your request.")
        extra = sorted(set(body) - OPENAI_FIELDS)
        if extra:
            return bad(f"Unrecognized request argument supplied: {extra[0]}")
        if not isinstance(body.get("model"), str) or not body["model"]:  # [OA-create]
            return bad("you must provide a model parameter", "model")
        msgs = body.get("messages")
        if not isinstance(msgs, list) or not msgs:
            return bad("'messages' must be a non-empty array", "messages")
        for i, m in enumerate(msgs):
            if not isinstance(m, dict) or m.get("role") not in (
                "system",
                "developer",
                "user",
                "assistant",
                "tool",
            ):
                return bad(f"Invalid value for 'messages[{i}].role'", f"messages[{i}].role")
            if not isinstance(m.get("content"), str | list):
                return bad(f"Invalid type for 'messages[{i}].content'", f"messages[{i}].content")
        temp = body.get("temperature", 1)
        if not isinstance(temp, int | float) or not 0 <= temp <= 2:
            return bad("Invalid 'temperature': must be between 0 and 2", "temperature")
        if "stream_options" in body and body.get("stream") is not True:  # [OA-create]
            return bad(
                "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                "stream_options",
            )
        fmt = body.get("response_format")
        if fmt is not None:
            kind = fmt.get("type") if isinstance(fmt, dict) else None
            if kind not in ("text", "json_object", "json_schema"):
                return bad("Invalid value for 'response_format.type'", "response_format")
            spec = fmt.get("json_schema") if kind == "json_schema" else None
            if kind == "json_schema" and not (
                isinstance(spec, dict)
                and isinstance(spec.get("name"), str)
                and SCHEMA_NAME.match(spec["name"])
                and isinstance(spec.get("schema"), dict)
            ):
                return bad("Invalid 'response_format.json_schema'", "response_format")
            said = " ".join(str(m.get("content")) for m in msgs).lower()
            if kind == "json_object" and "json" not in said:  # [OA-json]
                return bad(
                    "'messages' must contain the word 'json' in some form, to use "
                    "'response_format' of type 'json_object'.",
                    "messages",
                )
        return None

    def _check_anthropic(self, path: str, headers: dict[str, str], body: Any) -> Any:
        def bad(
            msg: str, kind: str = "invalid_request_error", status: int = 400
        ) -> tuple[int, dict]:
            return status, {"type": "error", "error": {"type": kind, "message": msg}}

        if path != "/v1/messages":
            return bad(f"Not found: {path}", "not_found_error", 404)
        key = headers.get("x-api-key", "")  # [AN-create], [AN-errors]
        if not key or (self.api_key is not None and key != self.api_key):
            return bad("invalid x-api-key", "authentication_error", 401)
        if not headers.get("anthropic-version"):
            return bad("anthropic-version: header is required")
        if not isinstance(body, dict):
            return bad("There was an error parsing the body of your request")
        extra = sorted(set(body) - ANTHROPIC_FIELDS)
        if extra:
            return bad(f"{extra[0]}: Extra inputs are not permitted")
        if not isinstance(body.get("model"), str) or not body["model"]:
            return bad("model: Field required")
        if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1:
            return bad("max_tokens: Field required")
        msgs = body.get("messages")
        if not isinstance(msgs, list) or not msgs:
            return bad("messages: at least one message is required")
        for i, m in enumerate(msgs):
            if not isinstance(m, dict) or m.get("role") not in ("user", "assistant"):
                return bad(f"messages.{i}.role: Input should be 'user' or 'assistant'")
        if msgs[0].get("role") != "user":
            return bad('messages: first message must use the "user" role')
        last = msgs[-1]
        if (
            last.get("role") == "assistant"
            and str(last.get("content")) != str(last.get("content")).rstrip()
        ):
            return bad("messages: final assistant content cannot end with trailing whitespace")
        temp = body.get("temperature", 1)
        if not isinstance(temp, int | float) or not 0 <= temp <= 1:
            return bad("temperature: Input should be less than or equal to 1")
        return None

    # ------------------------------------------------------------------ HTTP

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _json(
                self,
                status: int,
                payload: Any,
                headers: dict[str, str],
                ctype: str = "application/json",
            ) -> None:
                data = (
                    payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
                )
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n)
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = None
                refused = server.check(self.path, headers, body)
                if refused is not None:
                    with server.lock:
                        server.refused.append((refused[0], json.dumps(refused[1])))
                    self._json(refused[0], refused[1], {})
                    return
                seen = Seen(self.path, headers, body, time.monotonic())
                with server.lock:
                    server.requests.append(seen)
                    reply = server._next(seen)
                if reply.status >= 400:
                    self._json(
                        reply.status,
                        reply.body or ('{"error": {"message": "error", "type": "server_error"}}'),
                        reply.headers,
                    )
                    return
                if reply.content_type != "text/event-stream":
                    self._json(reply.status, reply.body, reply.headers, reply.content_type)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                events = (
                    reply.raw
                    if reply.raw is not None
                    else list(
                        (
                            server._openai_events
                            if server.kind == "openai"
                            else server._anthropic_events
                        )(reply, body)
                    )
                )
                try:
                    self._stream(reply, events)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                self.close_connection = True

            def _chunk(self, text: str) -> None:
                data = text.encode("utf-8")
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

            def _stream(self, reply: Reply, events: list[str]) -> None:
                for i, ev in enumerate(events):
                    if reply.drop_after is not None and i >= reply.drop_after:
                        return  # the connection closes mid-body: an incomplete chunked body
                    if reply.forever and i == len(events) - 1:
                        self._forever(reply)
                        return
                    if not ev:
                        continue  # a zero-length chunk would end the chunked body
                    self._chunk(ev)
                    if i == 0 and reply.stall_s:
                        server.stop.wait(reply.stall_s)
                    if reply.pace_s:
                        server.stop.wait(reply.pace_s)
                self.wfile.write(b"0\r\n\r\n")

            def _forever(self, reply: Reply) -> None:
                piece = (
                    server._openai_delta(" ", reply)
                    if server.kind == "openai"
                    else server._anthropic_ev(
                        "content_block_delta",
                        {"index": 0, "delta": {"type": "text_delta", "text": " "}},
                        reply,
                    )
                )
                end = time.monotonic() + 60  # a client that never gives up is a test bug
                while not server.stop.is_set() and time.monotonic() < end:
                    self._chunk(piece)
                    server.stop.wait(0.05)

        return Handler

    # ------------------------------------------------------------------ streams

    @staticmethod
    def _pieces(text: str, size: int) -> list[str]:
        return [text[i : i + size] for i in range(0, len(text), size)] or [""]

    @staticmethod
    def _dump(obj: Any, reply: Reply) -> str:
        return json.dumps(obj, ensure_ascii=reply.ascii_only)

    def _openai_delta(
        self, text: str, reply: Reply, key: str = "content", usage: bool = False
    ) -> str:
        chunk = {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "fake",
            "choices": [{"index": 0, "delta": {key: text}, "finish_reason": None}],
        }
        if usage:
            chunk["usage"] = None  # [OA-stream]: null on every chunk but the last
        return f"data: {self._dump(chunk, reply)}\n\n"

    def _openai_events(self, reply: Reply, body: dict[str, Any]) -> Iterator[str]:
        wants_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        head = {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": body["model"],
            "choices": [
                {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
            ],
        }
        yield f"data: {self._dump(head, reply)}\n\n"
        for piece in self._pieces(reply.think, reply.chunk) if reply.think else []:
            yield self._openai_delta(piece, reply, "reasoning_content", wants_usage)
        for piece in self._pieces(reply.text, reply.chunk):
            yield self._openai_delta(piece, reply, usage=wants_usage)
        if reply.cut_clean:
            return
        if reply.forever:
            yield ""  # replaced by the endless part
            return
        end = {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": body["model"],
            "choices": [{"index": 0, "delta": {}, "finish_reason": reply.finish}],
        }
        yield f"data: {self._dump(end, reply)}\n\n"
        if wants_usage and reply.usage is not None:
            usage = reply.usage
            if isinstance(usage, tuple):
                usage = {
                    "prompt_tokens": usage[0],
                    "completion_tokens": usage[1],
                    "total_tokens": usage[0] + usage[1],
                }
            last = {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": body["model"],
                "choices": [],
                "usage": usage,
            }
            yield f"data: {self._dump(last, reply)}\n\n"
        yield "data: [DONE]\n\n"

    def _anthropic_ev(self, kind: str, data: dict[str, Any], reply: Reply) -> str:
        return f"event: {kind}\ndata: {self._dump({'type': kind, **data}, reply)}\n\n"

    def _anthropic_events(self, reply: Reply, body: dict[str, Any]) -> Iterator[str]:
        usage = reply.usage
        tin, tout = usage if isinstance(usage, tuple) else (usage, usage)
        ev = self._anthropic_ev
        message = {
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": body["model"],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": tin, "output_tokens": 1},
        }
        yield ev("message_start", {"message": message}, reply)
        index = 0
        if reply.think:
            yield ev(
                "content_block_start",
                {"index": 0, "content_block": {"type": "thinking", "thinking": ""}},
                reply,
            )
            for piece in self._pieces(reply.think, reply.chunk):
                yield ev(
                    "content_block_delta",
                    {"index": 0, "delta": {"type": "thinking_delta", "thinking": piece}},
                    reply,
                )
            yield ev("content_block_stop", {"index": 0}, reply)
            index = 1
        yield ev(
            "content_block_start",
            {"index": index, "content_block": {"type": "text", "text": ""}},
            reply,
        )
        yield ev("ping", {}, reply)
        for piece in self._pieces(reply.text, reply.chunk):
            yield ev(
                "content_block_delta",
                {"index": index, "delta": {"type": "text_delta", "text": piece}},
                reply,
            )
        if reply.forever:
            yield ""
            return
        yield ev("content_block_stop", {"index": index}, reply)
        stop = {"end_turn": "end_turn", "stop": "end_turn"}.get(str(reply.finish), reply.finish)
        yield ev(
            "message_delta",
            {
                "delta": {"stop_reason": stop, "stop_sequence": None},
                "usage": {"output_tokens": tout},
            },
            reply,
        )
        yield ev("message_stop", {}, reply)
