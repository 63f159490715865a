"""Fixtures for whole-engine LLM tests: a real fake OpenAI-compatible server on 127.0.0.1
(streams SSE, scripted by a function of the request), an engine on a temp Store built with the
runtime's own strategy factory (the same LLMStrategy wiring the TUI and headless use), and a
harness that commands the engine and collects its events.

The fake server and the harness are the shared ones in tests/support/ (fake_llm_server.py,
engine_harness.py), imported by name: pytest's importlib mode cannot share conftest modules
across test dirs.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import fake_llm_server
import pytest
from engine_harness import Harness
from fake_llm_server import FakeLLMServer, Seen

from oxbot.app.runtime import RuntimeOptions, key_check, strategy_factory
from oxbot.engine.engine import Engine
from oxbot.engine.market.hub import MarketHub
from oxbot.engine.market.sim import SimConfig
from oxbot.engine.models import BotConfig
from oxbot.storage.store import Store

START = 1_700_000_040_000  # fixed virtual start (a minute boundary): deterministic candles
MODEL = "fake-model"
# USD per 1M tokens (in, out): $1 / $2, so one 321-in/54-out call costs exactly $0.000429.
PRICE = (Decimal("1"), Decimal("2"))
USAGE = (321, 54)


def call_cost(tokens_in: int, tokens_out: int) -> Decimal:
    return (PRICE[0] * tokens_in + PRICE[1] * tokens_out) / Decimal(1_000_000)


@dataclass
class Reply(fake_llm_server.Reply):
    """The shared scripted answer with this folder's defaults: 9-character SSE events and a
    measurable latency after the first one (``delay_s``)."""

    chunk: int = 9  # characters per SSE event
    usage: tuple[int, int] | None = USAGE
    delay_s: float = 0.004  # after the first chunk: a measurable latency

    def __post_init__(self) -> None:
        self.stall_s = self.delay_s


def _openai_server() -> FakeLLMServer:
    srv = FakeLLMServer("openai")
    srv.handler = lambda _s: Reply('{"decisions": []}')
    return srv.start()


@pytest.fixture
def fake_llm() -> Iterator[FakeLLMServer]:
    srv = _openai_server()
    yield srv
    srv.close()


@pytest.fixture
def fake_llm2() -> Iterator[FakeLLMServer]:
    srv = _openai_server()
    yield srv
    srv.close()


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


def make_engine(
    store: Any,
    tmp_path: Path,
    *,
    max_candles: int = 60,
    seed: int = 3,
    clock: Any = None,
    keys: dict[str, str] | None = None,
) -> Engine:
    """A max-speed (lockstep) sim engine whose LLM bots are built by the runtime's factory
    and checked by its key check, with the given provider ``keys`` instead of a keyring (the
    fake server needs none), a price for ``fake-model``, and ``clock`` as its wall clock."""
    given = dict(keys or {})
    opts = RuntimeOptions(
        db_path=tmp_path / "oxbot.db",
        key_resolver=given.get,
        price_table={MODEL: PRICE},
        snapshot_every_s=None,
        clock=clock,
    )
    hub = MarketHub(SimConfig(seed=seed, start_ts=START, speed=None, max_candles=max_candles))
    return Engine(
        store,
        hub,
        strategy_factory=strategy_factory(opts),
        snapshot_every_s=None,
        clock=clock,
        key_check=key_check(opts),
    )


def llm_bot(
    name: str,
    url: str,
    *,
    symbols: tuple[str, ...] = ("BTC/USDT", "ETH/USDT"),
    cadence_s: int = 0,
    **llm: Any,
) -> BotConfig:
    """A paper LLM bot on `sim` talking to the fake server as an OpenAI-compatible provider."""
    return BotConfig(
        name=name,
        symbols=symbols,
        timeframe="1m",
        strategy="llm",
        cadence_s=cadence_s,
        llm={
            "provider": "openai_compatible",
            "base_url": url,
            "model": MODEL,
            "timeout_s": 10,
            **llm,
        },
    )


def reply(*calls: dict[str, Any], analysis: str = "scripted analysis") -> str:
    return json.dumps({"analysis": analysis, "decisions": list(calls)})


def call(
    symbol: str,
    action: str,
    size: float | None = None,
    *,
    sl: float | None = None,
    tp: float | None = None,
    why: str = "scripted",
) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "action": action,
        "size_pct": size,
        "stop_loss": sl,
        "take_profit": tp,
        "confidence": 0.6,
        "reasoning": why,
    }


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
