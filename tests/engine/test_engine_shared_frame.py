"""Bots reading one stream share its candle window; a strategy that edits the frame it is given
(a common pandas habit: ``frame["x"] = ...``) must not change what the other bots read.

Found by the issue-13 adversary: bot B alone made 311 fills, equal to its backtest; beside a bot
that scaled ``sma_20`` and rounded ``close`` in place, B made 148 different fills. What the test
relies on: pandas >= 3 copy-on-write (always on; pandas 3.0 release notes, "Copy-on-Write"): a
shallow copy's column assignments and in-place edits never reach the frame it was copied from.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from oxbot.engine.engine import Engine
from oxbot.engine.market.hub import MarketHub
from oxbot.engine.market.sim import SimConfig
from oxbot.engine.models import BotConfig, BotStatus
from oxbot.engine.strategies import REGISTRY, SMA, Strategy, cross_signals, register
from oxbot.storage.store import Store


class Mutator(Strategy):
    name = "test_frame_mutator"

    def indicators(self):
        return [SMA(20)]

    def signals(self, frame):
        frame["sma_20"] = frame["sma_20"] * 1.05
        frame["close"] = frame["close"].round(0)
        frame.loc[frame.index[-1], "close"] = 0.0
        return np.zeros(len(frame), dtype=np.int8)


class Reader(Strategy):
    name = "test_frame_reader"

    def indicators(self):
        return [SMA(20)]

    def signals(self, frame):
        return cross_signals(frame["close"].to_numpy(float), frame["sma_20"].to_numpy(float))


@pytest.fixture
def strategies():
    """Registered for this test only: other tests list the registry (forms, snapshots)."""
    for cls in (Mutator, Reader):
        register(cls)
    yield
    for cls in (Mutator, Reader):
        REGISTRY.pop(cls.name, None)


def _csv(path: Path, n: int = 900) -> str:
    rng = np.random.default_rng(5)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.concatenate(([100.0], close[:-1]))
    ts = 1_700_000_000_000 + np.arange(n) * 3_600_000
    rows = ["timestamp,open,high,low,close,volume"] + [
        f"{t},{o:.4f},{max(o, c) * 1.003:.4f},{min(o, c) * 0.997:.4f},{c:.4f},1"
        for t, o, c in zip(ts, open_, close, strict=True)
    ]
    path.write_text("\n".join(rows) + "\n")
    return str(path)


async def _fills(tmp: Path, configs: list[BotConfig], csv: str) -> list[tuple]:
    store = await Store.open(tmp / f"{len(configs)}.db")
    hub = MarketHub(SimConfig(speed=None, csv={"BTC/USDT": csv}))
    for c in configs:
        await store.save_bot(c, BotStatus.RUNNING)
    engine = Engine(store, hub, snapshot_every_s=None)
    run = asyncio.create_task(engine.run())
    await engine.ready.wait()
    while not hub._streams or not all(s.ended for s in hub._streams.values()):
        await asyncio.sleep(0.02)
    fills = await store.load_fills("reader")
    engine.request_stop()
    await run
    await store.close()
    return [(f.ts, f.side.value, str(f.qty), str(f.price)) for f in fills]


async def test_a_strategy_editing_its_frame_does_not_change_another_bots(
    tmp_path: Path, strategies: None
) -> None:
    csv = _csv(tmp_path / "BTC-USDT.csv")
    reader = BotConfig(name="reader", timeframe="1h", strategy="test_frame_reader")
    mutator = BotConfig(name="mutator", timeframe="1h", strategy="test_frame_mutator")
    alone = await _fills(tmp_path, [reader], csv)
    beside = await _fills(tmp_path, [mutator, reader], csv)
    assert len(alone) > 10
    assert beside == alone


class OwnHigh(Strategy):
    """Computes its own running high over the whole frame it is given (the adversary's F4,
    an all-time-high breakout): what it
    sees must not depend on how long a window another bot on the stream made the view keep."""

    name = "test_own_high"

    def indicators(self):
        return []

    def signals(self, frame):
        close = frame["close"].to_numpy(float)
        high = np.maximum.accumulate(close)  # the frame's own running high: start-dependent
        out = np.zeros(len(close), dtype=np.int8)
        out[close >= high] = 1
        out[close < 0.97 * high] = -1
        return out


def test_a_signals_only_strategy_reads_its_own_window_length() -> None:
    import pandas as pd

    from oxbot.engine.market.view import FrameView
    from oxbot.engine.market.window import WINDOW

    rng = np.random.default_rng(9)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 2001)))
    frame = pd.DataFrame({"ts": np.arange(2001), "close": close})
    s = OwnHigh()
    flips = 0
    for end in range(WINDOW + 50, 2001, 7):  # the stream's window: 2001 rows (a long warm-up)
        long_view = FrameView(frame.iloc[: end + 1].reset_index(drop=True))
        own = FrameView(frame.iloc[end + 1 - WINDOW : end + 1].reset_index(drop=True))
        assert s.signal(long_view) == s.signal(own)
        flips += s.signal(own) != 0
    assert flips > 0  # the comparison saw signals, not only zeros


class Wraps(Strategy):
    """Returns 257 where it means "enter": int8 would wrap it to 1 (the adversary's g_255)."""

    name = "test_wraps"

    def indicators(self):
        return []

    def signals(self, frame):
        out = np.zeros(len(frame), dtype=np.int64)
        out[::3] = 257
        return out


async def test_garbage_signals_never_trade_live(tmp_path: Path) -> None:
    """The live per-candle path checks signals as backtests do: a value outside -1/0/1 is the
    strategy's error (the bot ends in the error state after its failed cycles), never a trade."""
    register(Wraps)
    try:
        csv = _csv(tmp_path / "BTC-USDT.csv", n=400)
        bot = BotConfig(name="reader", timeframe="1h", strategy="test_wraps")
        store = await Store.open(tmp_path / "w.db")
        hub = MarketHub(SimConfig(speed=None, csv={"BTC/USDT": csv}))
        await store.save_bot(bot, BotStatus.RUNNING)
        engine = Engine(store, hub, snapshot_every_s=None)
        run = asyncio.create_task(engine.run())
        await engine.ready.wait()
        while not hub._streams or not all(s.ended for s in hub._streams.values()):
            await asyncio.sleep(0.02)
        fills = await store.load_fills("reader")
        (status,) = [s for c, s in await store.load_bots() if c.name == "reader"]
        engine.request_stop()
        await run
        await store.close()
    finally:
        REGISTRY.pop(Wraps.name, None)
    assert fills == []
    assert status is BotStatus.ERROR
