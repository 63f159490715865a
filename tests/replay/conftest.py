"""A real ledger to replay: a PAPER sma_cross bot run by the live engine (Store on a temp file,
Engine + MarketHub replaying CSV files at max speed), built as
tests/backtest/test_backtest_bot_replay.py builds it. A CSV stream first takes
``min(MAX_WINDOW, max(WINDOW, bars_needed))`` rows as history and replays the next
``max_candles`` rows live (engine/market/hub.py ``_open_stream``)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from oxbot.engine.engine import Engine
from oxbot.engine.market.hub import MarketHub
from oxbot.engine.market.sim import SimConfig
from oxbot.engine.models import BotConfig, BotStatus, Fill, RiskLimits
from oxbot.storage.store import Store

SYMS = ("BTC/USDT", "ETH/USDT")
LIVE_CANDLES = 500
# Limits that bind (tests/backtest/test_backtest_bot_replay.py TIGHT): sizes clamp, stops fire.
TIGHT = RiskLimits(
    max_position_pct=Decimal(30),
    max_exposure_pct=Decimal(50),
    stop_loss_pct=Decimal("1.5"),
    take_profit_pct=Decimal(3),
    daily_loss_limit_pct=Decimal(1),
    max_drawdown_pct=Decimal(20),
)


def candles(n: int, seed: int) -> pd.DataFrame:
    """A seeded random walk with trends (tests/backtest/conftest.py ``generated_candles``)."""
    rng = np.random.default_rng(seed)
    drift = np.repeat(rng.normal(0, 0.004, n // 50 + 1), 50)[:n]
    close = 100.0 * np.exp(np.cumsum(drift + rng.normal(0, 0.01, n)))
    open_ = np.concatenate(([100.0], close[:-1])) * (1 + rng.normal(0, 0.001, n))
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.004, n)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.004, n)))
    ts = 1_700_000_000_000 + np.arange(n, dtype=np.int64) * 3_600_000
    frame = pd.DataFrame(
        {
            "timestamp": ts,
            "open": open_.round(4),
            "high": high.round(4),
            "low": low.round(4),
            "close": close.round(4),
            "volume": rng.uniform(1, 100, n).round(3),
        }
    )
    frame["high"] = np.maximum(frame["high"], np.maximum(frame["open"], frame["close"]))
    frame["low"] = np.minimum(frame["low"], np.minimum(frame["open"], frame["close"]))
    return frame


@dataclass(frozen=True)
class Ledger:
    db: Path
    csv: dict[str, str]
    config: BotConfig
    fills: list[Fill]

    def csv_args(self) -> list[str]:
        return [a for s, p in self.csv.items() for a in ("--csv", f"{s}={p}")]


async def _live(db: Path, config: BotConfig, csv: dict[str, str]) -> list[Fill]:
    store = await Store.open(db)
    hub = MarketHub(SimConfig(speed=None, max_candles=LIVE_CANDLES, csv=csv))
    await store.save_bot(config, BotStatus.RUNNING)
    engine = Engine(store, hub, snapshot_every_s=None)
    run = asyncio.create_task(engine.run())
    await asyncio.wait_for(engine.ready.wait(), 30)
    async with asyncio.timeout(600):
        while not hub._streams or not all(s.ended for s in hub._streams.values()):
            await asyncio.sleep(0.01)
    runner = engine.runners[config.name]
    assert runner.errors == 0, runner.last_error
    engine.request_stop()
    await run
    fills = await store.load_fills(config.name)
    await store.close()
    return fills


def _ledger(tmp: Path, config: BotConfig) -> Ledger:
    csv = {}
    for seed, sym in enumerate(SYMS, start=3):
        path = tmp / f"{sym.replace('/', '-')}.csv"
        candles(900, seed).to_csv(path, index=False)
        csv[sym] = str(path)
    db = tmp / "live.db"
    fills = asyncio.run(_live(db, config, csv))
    return Ledger(db, csv, config, fills)


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Ledger:
    """A rule bot (sma_cross) under limits that bind."""
    config = BotConfig(
        name="paper1",
        symbols=SYMS,
        timeframe="1h",
        strategy="sma_cross",
        params={"fast": 5, "slow": 20},
        risk=TIGHT,
        slippage_bps=Decimal(5),
    )
    return _ledger(tmp_path_factory.mktemp("replay"), config)


@pytest.fixture(scope="module")
def llm_ledger(tmp_path_factory: pytest.TempPathFactory) -> Ledger:
    """An LLM bot on the offline provider (engine/llm/offline.py: rules over the prompt's
    facts, its reply parsed as a model's; buys ask for 10 % of equity), every 3 candles; as
    tests/backtest/test_backtest_llm_parity.py runs it. No server needed."""
    config = BotConfig(
        name="thinker",
        symbols=SYMS,
        timeframe="1h",
        strategy="llm",
        params={"provider": "offline", "memory": 5},
        cadence_s=3 * 3600,
        risk=TIGHT,
        slippage_bps=Decimal(5),
    )
    return _ledger(tmp_path_factory.mktemp("replay_llm"), config)
