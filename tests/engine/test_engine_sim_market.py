"""The built-in sim market stays a plausible market at every timeframe, over long runs, and a
bad stored price or a failing start never poisons the next start.

Defects these tests pin (issue 11, section 3): with the default seed SOL and BNB daily prices
fell to 0.0, BTC 4h fell from 66k to 726 within the warm-up, ETH 1d reached 3.5e17 (drift and
regime changes were per bar, not per unit of time); a stored price of 0 made the hub divide by
zero at every later start; a bot that failed to start was stored as running.
"""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from oxbot.engine.engine import Engine
from oxbot.engine.market.hub import MarketHub
from oxbot.engine.market.sim import BASE_PRICES, SimConfig, SyntheticSeries
from oxbot.engine.messages import AddBot, EngineError, StartBot
from oxbot.engine.models import TIMEFRAMES, BotConfig, BotStatus, StreamKey
from oxbot.storage.store import Store

from .conftest import START, Harness, make_engine

BARS = 4000  # per stream, after the hub's warm-up history: 11 years of daily bars
BAND = 10.0  # a price stays within this factor of where its stream started
SYMBOLS = [f"{base}/USDT" for base in BASE_PRICES] + ["NEW/USDT"]  # NEW: no base price


def _stream(symbol: str, tf: str) -> tuple[list[float], list[float], list[float]]:
    """Lows, highs and closes of the default-seed stream, history included, as the hub opens
    it (its warm-up history first)."""
    hub = MarketHub(SimConfig(start_ts=START))  # default seed
    stream = hub._open_stream(StreamKey("sim", symbol, tf))
    lows, highs, closes = (list(stream.ohlcv[:, i]) for i in (2, 1, 3))
    for _ in range(BARS):
        c = stream.series.next()
        assert c is not None
        lows.append(c.low)
        highs.append(c.high)
        closes.append(c.close)
    return lows, highs, closes


@pytest.mark.parametrize("tf", list(TIMEFRAMES))
def test_every_stream_stays_positive_and_near_its_start(tf: str) -> None:
    worst = []
    for symbol in SYMBOLS:
        lows, highs, closes = _stream(symbol, tf)
        values = np.array([lows, highs, closes])
        assert np.isfinite(values).all(), f"{symbol} {tf}: NaN or infinite price"
        assert (values > 0).all(), f"{symbol} {tf}: price <= 0 (min {values.min()})"
        start = closes[0]
        low, high = min(lows), max(highs)
        worst.append((max(high / start, start / low), symbol))
        assert start / BAND <= low and high <= start * BAND, (
            f"{symbol} {tf}: from {start:g} the price went to [{low:g}, {high:g}] in "
            f"{len(closes)} bars"
        )
    print(f"{tf}: widest range {max(worst)[0]:.2f}x ({max(worst)[1]})")


def test_volatility_is_per_unit_of_time() -> None:
    """The spread of bar returns grows with the square root of the bar's length: per
    sqrt(minute) it is about the same at 1m and at 1d (it was 12 per bar at 1d)."""
    per_minute = {}
    for tf, seconds in TIMEFRAMES.items():
        s = SyntheticSeries(7, "BTC/USDT", tf, START)
        closes = np.array([s.next().close for _ in range(3000)])  # type: ignore[union-attr]
        sd = float(np.diff(np.log(closes)).std())
        per_minute[tf] = sd / math.sqrt(seconds / 60)
    lo, hi = min(per_minute.values()), max(per_minute.values())
    assert hi / lo < 2.5, per_minute
    # and a realistic size: 40-200 % a year, as crypto markets move
    yearly = {tf: v * math.sqrt(525_600) for tf, v in per_minute.items()}
    assert all(0.4 < v < 2.0 for v in yearly.values()), yearly


def cfg(name: str, **kw: Any) -> BotConfig:
    return BotConfig(
        name=name,
        symbols=("SOL/USDT",),
        timeframe="1d",
        params=kw.pop("params", {"fast": 2, "slow": 5}),
        **kw,
    )


def _store_marks(db: Path, rows: dict[str, str]) -> None:
    """Stored last prices written as raw text, as a damaged file or an old sim left them."""
    con = sqlite3.connect(db)
    try:
        with con:
            for stream, close in rows.items():
                con.execute(
                    "INSERT OR REPLACE INTO market_marks (stream, ts, close) VALUES (?, ?, ?)",
                    (stream, START, close),
                )
    finally:
        con.close()


@pytest.mark.parametrize("stored", ["0", "0.0", "-5", "garbage", "NaN", "3.5e17"])
async def test_a_bad_stored_price_never_reaches_the_market(db_path: Path, stored: str) -> None:
    """The engine starts, the bot runs, and the stream's prices are positive and near the
    symbol's base price whatever the stored last price was."""
    store = await Store.open(db_path)
    await store.save_bot(cfg("s"), BotStatus.RUNNING)
    _store_marks(db_path, {"sim:SOL/USDT:1d": stored})
    h = Harness(make_engine(store, max_candles=40, seed=7))
    try:
        await h.start()
        r = h.engine.runners["s"]
        assert r.status is BotStatus.RUNNING
        await h.finish_market()
        stream = h.engine.hub._streams[StreamKey("sim", "SOL/USDT", "1d")]
        closes = stream.ohlcv[:, 3]
        assert np.isfinite(closes).all() and (closes > 0).all()
        assert 150 / BAND < closes.min() and closes.max() < 150 * BAND, closes[-5:]
        assert r.cycles >= 30 and r.errors == 0
        assert not [e for e in h.events if isinstance(e, EngineError)]
    finally:
        await h.stop()
        await store.close()
    again = await Store.open(db_path)
    try:  # and what this run stored for the next one is a sane price
        marks = await again.load_marks()
        assert 150 / BAND < marks["sim:SOL/USDT:1d"][1] < 150 * BAND
    finally:
        await again.close()


async def test_a_bot_that_fails_to_start_is_not_stored_as_running(db_path: Path) -> None:
    """A bot on a real exchange in an engine started for sim only: its start fails, it stays
    stopped in the database, and the next engine start is not failed by it."""
    store = await Store.open(db_path)
    h = Harness(make_engine(store))
    try:
        await h.start()
        bad = BotConfig(name="x", exchange="binance", symbols=("BTC/USDT",))
        assert (await h.do(AddBot(config=bad))).ok
        assert (await h.do(AddBot(config=cfg("ok")))).ok
        done = await h.do(StartBot(name="x"))
        assert not done.ok and "'sim' market only" in done.message
        assert h.engine.runners["x"].status is BotStatus.STOPPED
        stored = {c.name: s for c, s in await store.load_bots()}
        assert stored["x"] is BotStatus.STOPPED
        assert (await h.do(AddBot(config=cfg("ok2"), start=True))).ok  # the engine goes on
    finally:
        await h.stop()
        await store.close()


async def test_a_bot_that_cannot_resume_does_not_stop_the_engine(db_path: Path) -> None:
    """Stored as running but impossible to start (here: an exchange this engine has no access
    to): the engine starts anyway, says why, the others resume, the bot is stored stopped."""
    store = await Store.open(db_path)
    await store.save_bot(BotConfig(name="x", exchange="binance"), BotStatus.RUNNING)
    await store.save_bot(cfg("ok"), BotStatus.RUNNING)
    engine: Engine = make_engine(store)
    h = Harness(engine)
    try:
        await h.start()
        assert engine.runners["ok"].status is BotStatus.RUNNING
        assert engine.runners["x"].status is BotStatus.STOPPED
        await h.drain(lambda: any(isinstance(e, EngineError) for e in h.events))
        errors = [e.message for e in h.events if isinstance(e, EngineError)]
        assert any("bot x not resumed" in m for m in errors), errors
        stored = {c.name: s for c, s in await store.load_bots()}
        assert stored == {"x": BotStatus.STOPPED, "ok": BotStatus.RUNNING}
    finally:
        await h.stop()
        await store.close()
