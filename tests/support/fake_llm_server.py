"""Fake LLM servers (OpenAI-compatible and Anthropic) on 127.0.0.1, shared by the llm and
llm_engine tests.

The servers are real HTTP servers in a thread: httpx talks to them over TCP exactly as it would
to a provider. A test scripts replies with `Reply` objects (queued with ``then``, or a
``handler`` function of the request); every request is recorded with its arrival time.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """One scripted answer. ``text`` is the completion; ``status`` >= 400 sends ``body``."""

    text: str = ""
    status: int = 200
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    chunk: int = 7  # characters per SSE event
    usage: tuple[int, int] | None = (321, 54)
    stall_s: float = 0.0  # sleep after the first chunk (a stream that stops moving)


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
        return any(m.get("role") == "assistant" for m in self.body.get("messages", []))

    @property
    def user_text(self) -> str:
        return str(self.body["messages"][1]["content"])


class FakeLLMServer:
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.script: list[Reply] = []
        self.handler: Callable[[Seen], Reply] | None = None
        self.requests: list[Seen] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,),
                                        daemon=True)

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

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                n = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(n) or b"{}")
                seen = Seen(self.path, {k.lower(): v for k, v in self.headers.items()}, body,
                            time.monotonic())
                with server.lock:
                    server.requests.append(seen)
                    reply = server._next(seen)
                if reply.status >= 400:
                    data = (reply.body or '{"error": {"message": "error"}}').encode()
                    self.send_response(reply.status)
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                events = (server._openai_events if server.kind == "openai"
                          else server._anthropic_events)(reply, body)
                try:
                    for i, ev in enumerate(events):
                        self.wfile.write(ev.encode())
                        self.wfile.flush()
                        if i == 0 and reply.stall_s:
                            server.stop.wait(reply.stall_s)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                self.close_connection = True

        return Handler

    @staticmethod
    def _pieces(reply: Reply) -> list[str]:
        t = reply.text
        return [t[i:i + reply.chunk] for i in range(0, len(t), reply.chunk)] or [""]

    def _openai_events(self, reply: Reply, body: dict[str, Any]) -> Iterator[str]:
        for piece in self._pieces(reply):
            delta = {"choices": [{"index": 0, "delta": {"content": piece},
                                  "finish_reason": None}]}
            yield f"data: {json.dumps(delta)}\n\n"
        stop = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        yield f"data: {json.dumps(stop)}\n\n"
        wants_usage = (body.get("stream_options") or {}).get("include_usage")
        if wants_usage and reply.usage:
            usage = {"prompt_tokens": reply.usage[0], "completion_tokens": reply.usage[1]}
            yield f"data: {json.dumps({'choices': [], 'usage': usage})}\n\n"
        yield "data: [DONE]\n\n"

    def _anthropic_events(self, reply: Reply, body: dict[str, Any]) -> Iterator[str]:
        def ev(kind: str, data: dict[str, Any]) -> str:
            return f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n"

        usage_in = {"input_tokens": reply.usage[0], "output_tokens": 1} if reply.usage else {}
        yield ev("message_start", {"message": {"id": "m1", "usage": usage_in}})
        yield ev("content_block_start", {"index": 0, "content_block": {"type": "text",
                                                                       "text": ""}})
        yield ": ping\n\n"
        for piece in self._pieces(reply):
            yield ev("content_block_delta", {"index": 0, "delta": {"type": "text_delta",
                                                                   "text": piece}})
        yield ev("content_block_stop", {"index": 0})
        usage_out = {"output_tokens": reply.usage[1]} if reply.usage else {}
        yield ev("message_delta", {"delta": {"stop_reason": "end_turn"}, "usage": usage_out})
        yield ev("message_stop", {})
