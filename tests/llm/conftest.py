"""Fake LLM servers (OpenAI-compatible and Anthropic) on 127.0.0.1, scripted per test, and
builders for indicator frames and decision contexts.

The servers are real HTTP servers in a thread: httpx talks to them over TCP exactly as it would
to a provider. Each test scripts replies with `Reply` objects (or a function of the request);
every request is recorded with its arrival time. They are the shared ones in
tests/support/fake_llm_server.py.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fake_llm_server import FakeLLMServer, Reply

from oxbot.engine.market.indicators import FULL_SET, compute
from oxbot.engine.models import BotConfig, Position
from oxbot.engine.strategies.base import DecisionContext


@pytest.fixture
def openai_server() -> Iterator[FakeLLMServer]:
    srv = FakeLLMServer("openai").start()
    yield srv
    srv.close()


@pytest.fixture
def anthropic_server() -> Iterator[FakeLLMServer]:
    srv = FakeLLMServer("anthropic").start()
    yield srv
    srv.close()


# --------------------------------------------------------------------------- market builders

T0 = 1_700_000_040_000  # a minute boundary, ms


def candles(
    n: int = 120, start: float = 100.0, seed: int = 1, drift: float = 0.0, tf_ms: int = 60_000
) -> pd.DataFrame:
    """A seeded random walk of OHLCV bars with a ``ts`` column (ms)."""
    rng = np.random.default_rng(seed)
    steps = rng.normal(drift, 0.004, n)
    close = start * np.exp(np.cumsum(steps))
    open_ = np.concatenate([[start], close[:-1]])
    spread = np.abs(rng.normal(0, 0.002, n)) * close
    return pd.DataFrame(
        {
            "ts": T0 + np.arange(n) * tf_ms,
            "open": open_,
            "high": np.maximum(open_, close) + spread,
            "low": np.minimum(open_, close) - spread,
            "close": close,
            "volume": rng.uniform(10, 100, n),
        }
    )


@functools.lru_cache(maxsize=64)
def _frame(n: int, items: tuple[tuple[str, Any], ...]) -> pd.DataFrame:
    return compute(candles(n, **dict(items)), FULL_SET)


def frame(n: int = 120, **kw: Any) -> pd.DataFrame:
    """Candles with the FULL_SET indicator columns (cached: pandas-ta is slow; a copy)."""
    return _frame(n, tuple(sorted(kw.items()))).copy()


SYMBOLS5 = ("BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT", "ADA/USDT")
STARTS = {
    "BTC/USDT": 43000.0,
    "ETH/USDT": 2300.0,
    "SOL/USDT": 60.0,
    "XRP/USDT": 0.61,
    "ADA/USDT": 0.37,
}


def make_ctx(
    symbols: tuple[str, ...] = ("BTC/USDT", "ETH/USDT"),
    *,
    n: int = 120,
    positions: dict[str, Position] | None = None,
    emit: Callable[[str], None] | None = None,
    extra: dict[str, Any] | None = None,
    memory: tuple = (),
    ts: int | None = None,
    frames: dict[str, pd.DataFrame] | None = None,
    timeframe: str = "1m",
) -> DecisionContext:
    frames = frames or {
        s: frame(n, start=STARTS.get(s, 10.0), seed=i + 1) for i, s in enumerate(symbols)
    }
    cfg = BotConfig(name="llmbot", symbols=symbols, timeframe=timeframe, strategy="llm")
    last_ts = int(next(iter(frames.values()))["ts"].iloc[-1]) + 60_000
    return DecisionContext(
        bot="llmbot",
        ts=ts or last_ts,
        config=cfg,
        frames=frames,
        positions=positions or {},
        cash=Decimal("10000"),
        equity=Decimal("10000"),
        memory=memory,
        emit=emit or (lambda _t: None),
        extra=extra or {},
    )


def last_close(ctx: DecisionContext, symbol: str) -> float:
    return float(ctx.frames[symbol]["close"].iloc[-1])


@pytest.fixture
def ctx_factory() -> Callable[..., DecisionContext]:
    return make_ctx


@pytest.fixture
def frame_factory() -> Callable[..., pd.DataFrame]:
    return frame


@pytest.fixture
def symbols5() -> tuple[str, ...]:
    return SYMBOLS5


@pytest.fixture
def reply_type() -> type[Reply]:
    return Reply
