"""Fixtures for whole-engine LLM tests: a real fake OpenAI-compatible server on 127.0.0.1
(streams SSE, scripted by a function of the request), an engine on a temp Store built with the
runtime's own strategy factory (the same LLMStrategy wiring the TUI and headless use), and a
harness that commands the engine and collects its events.

Copied (not imported) from tests/llm and tests/engine: pytest's importlib mode cannot share
conftest modules across test dirs.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field, replace
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from oxbot.engine.engine import Engine
from oxbot.engine.market.hub import MarketHub
from oxbot.engine.market.sim import SimConfig
from oxbot.engine.messages import Command, CommandDone
from oxbot.engine.models import BotConfig
from oxbot.storage.store import Store
from oxbot.tui.runtime import RuntimeOptions, strategy_factory

START = 1_700_000_040_000  # fixed virtual start (a minute boundary): deterministic candles
MODEL = "fake-model"
# USD per 1M tokens (in, out): $1 / $2, so one 321-in/54-out call costs exactly $0.000429.
PRICE = (Decimal("1"), Decimal("2"))
USAGE = (321, 54)


def call_cost(tokens_in: int, tokens_out: int) -> Decimal:
    return (PRICE[0] * tokens_in + PRICE[1] * tokens_out) / Decimal(1_000_000)


@dataclass
class Seen:
    """One request the fake server received."""

    body: dict[str, Any]
    at: float

    @property
    def is_repair(self) -> bool:
        # The repair re-ask replays the reply as an assistant turn.
        return any(m.get("role") == "assistant" for m in self.body.get("messages", []))

    @property
    def user_text(self) -> str:
        return str(self.body["messages"][1]["content"])


@dataclass
class Reply:
    text: str
    chunk: int = 9  # characters per SSE event
    usage: tuple[int, int] = USAGE
    delay_s: float = 0.004  # after the first chunk: a measurable latency


class FakeOpenAI:
    """POST /v1/chat/completions answered by ``handler(seen)`` as an SSE stream."""

    def __init__(self) -> None:
        self.handler: Callable[[Seen], Reply] = lambda _s: Reply('{"decisions": []}')
        self.requests: list[Seen] = []
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,),
                                        daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def start(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)

    def _events(self, reply: Reply, body: dict[str, Any]) -> Iterator[str]:
        t = reply.text
        for piece in [t[i:i + reply.chunk] for i in range(0, len(t), reply.chunk)] or [""]:
            delta = {"choices": [{"index": 0, "delta": {"content": piece},
                                  "finish_reason": None}]}
            yield f"data: {json.dumps(delta)}\n\n"
        stop = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        yield f"data: {json.dumps(stop)}\n\n"
        if (body.get("stream_options") or {}).get("include_usage"):
            usage = {"prompt_tokens": reply.usage[0], "completion_tokens": reply.usage[1]}
            yield f"data: {json.dumps({'choices': [], 'usage': usage})}\n\n"
        yield "data: [DONE]\n\n"

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                n = int(self.headers.get("Content-Length") or 0)
                seen = Seen(json.loads(self.rfile.read(n) or b"{}"), time.monotonic())
                with server.lock:
                    server.requests.append(seen)
                    reply = server.handler(seen)
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                try:
                    for i, ev in enumerate(server._events(reply, seen.body)):
                        self.wfile.write(ev.encode())
                        self.wfile.flush()
                        if i == 0 and reply.delay_s:
                            server._stop.wait(reply.delay_s)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                self.close_connection = True

        return Handler


@pytest.fixture
def fake_llm() -> Iterator[FakeOpenAI]:
    srv = FakeOpenAI().start()
    yield srv
    srv.close()


@pytest.fixture
def fake_llm2() -> Iterator[FakeOpenAI]:
    srv = FakeOpenAI().start()
    yield srv
    srv.close()


class Harness:
    """An engine running on the current loop, with helpers to command it and wait."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sub = engine.bus.subscribe(maxsize=1_000_000)
        self.events: list[Any] = []
        self.task: asyncio.Task[None] | None = None
        self._n = 0

    async def start(self) -> None:
        self.task = asyncio.create_task(self.engine.run())
        await asyncio.wait_for(self.engine.ready.wait(), 30)

    async def do(self, cmd: Command, timeout: float = 30) -> CommandDone:
        self._n += 1
        cmd = replace(cmd, request_id=f"r{self._n}")
        self.engine.submit(cmd)
        while True:
            ev = await asyncio.wait_for(self.sub.get(), timeout)
            self.events.append(ev)
            if isinstance(ev, CommandDone) and ev.request_id == cmd.request_id:
                return ev

    async def drain(self, until: Callable[[], bool], timeout: float = 60) -> None:
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while not until():
            if loop.time() > end:
                raise TimeoutError("condition not reached")
            try:
                self.events.append(await asyncio.wait_for(self.sub.get(), 0.1))
            except TimeoutError:
                pass

    async def finish_market(self, timeout: float = 60) -> None:
        """Wait until every sim stream ran out of candles and every bot emptied its inbox."""
        hub = self.engine.hub
        await self.drain(lambda: bool(hub._streams) and all(s.ended for s in
                                                            hub._streams.values()), timeout)
        for r in self.engine.runners.values():
            await asyncio.wait_for(r.inbox.join(), timeout)
        await self.drain(lambda: self.sub.queue.empty(), timeout)

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]

    async def stop(self) -> None:
        """Stop the engine (idempotent: teardown calls it again after a failed test)."""
        if self.task is None:
            return
        task, self.task = self.task, None
        if not task.done():
            self.engine.request_stop()
        await asyncio.wait_for(task, 30)
        while not self.sub.queue.empty():
            self.events.append(self.sub.queue.get_nowait())


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(tmp_path / "oxbot.db")
    yield s
    await s.close()


@pytest.fixture
async def harness(store: Store) -> AsyncIterator[Callable[[Engine], Harness]]:
    """Make harnesses whose engines are stopped before the store closes, pass or fail."""
    made: list[Harness] = []

    def make(engine: Engine) -> Harness:
        made.append(Harness(engine))
        return made[-1]

    yield make
    for h in made:
        await h.stop()


def make_engine(store: Any, tmp_path: Path, *, max_candles: int = 60, seed: int = 3) -> Engine:
    """A max-speed (lockstep) sim engine whose LLM bots are built by the runtime's factory,
    with no keyring (the fake server needs no key) and a price for ``fake-model``."""
    opts = RuntimeOptions(db_path=tmp_path / "oxbot.db", key_resolver=lambda _p: None,
                          price_table={MODEL: PRICE}, snapshot_every_s=None)
    hub = MarketHub(SimConfig(seed=seed, start_ts=START, speed=None, max_candles=max_candles))
    return Engine(store, hub, strategy_factory=strategy_factory(opts), snapshot_every_s=None)


def llm_bot(name: str, url: str, *, symbols: tuple[str, ...] = ("BTC/USDT", "ETH/USDT"),
            cadence_s: int = 0, **llm: Any) -> BotConfig:
    """A paper LLM bot on `sim` talking to the fake server as an OpenAI-compatible provider."""
    return BotConfig(name=name, symbols=symbols, timeframe="1m", strategy="llm",
                     cadence_s=cadence_s,
                     llm={"provider": "openai_compatible", "base_url": url, "model": MODEL,
                          "timeout_s": 10, **llm})


def reply(*calls: dict[str, Any], analysis: str = "scripted analysis") -> str:
    return json.dumps({"analysis": analysis, "decisions": list(calls)})


def call(symbol: str, action: str, size: float | None = None, *, sl: float | None = None,
         tp: float | None = None, why: str = "scripted") -> dict[str, Any]:
    return {"symbol": symbol, "action": action, "size_pct": size, "stop_loss": sl,
            "take_profit": tp, "confidence": 0.6, "reasoning": why}


@dataclass
class Script:
    """Replies by decision number: a repair re-ask gets the same kind of reply as its
    decision (so garbage stays garbage through the repair and ends as a counted HOLD)."""

    replies: list[str]
    decision: int = -1
    kinds: list[int] = field(default_factory=list)  # reply index per request

    def __call__(self, seen: Seen) -> Reply:
        if not seen.is_repair:
            self.decision += 1
        i = self.decision % len(self.replies)
        self.kinds.append(i)
        return Reply(self.replies[i])
