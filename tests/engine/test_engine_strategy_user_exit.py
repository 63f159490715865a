"""A user's strategy that calls sys.exit() (or raises another BaseException) where the engine
calls it, with a real Store and the app's strategy factory: the bot fails like for any other
error in its code, with its file:line, and the engine and the other bots go on
(adversary findings A1, A2, A14 of issue 13)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from oxbot.app.runtime import RuntimeOptions, strategy_factory
from oxbot.engine.messages import AddBot, DecisionMade, Notice
from oxbot.engine.models import BotConfig, BotStatus
from oxbot.engine.strategies import loader

from .conftest import Harness, make_engine

EXIT_IN_SIGNALS = """import sys
import numpy as np
from oxbot.engine.strategies import Strategy

class ExitsLive(Strategy):
    name = "exits_live"
    def warmup(self):
        return 2
    def signals(self, frame):
        sys.exit(5)
"""

INDICATORS_RAISE = """from pydantic import Field
from oxbot.engine.strategies import SMA, Strategy, StrategyParams, cross_signals

class P(StrategyParams):
    fast: int = Field(10, ge=2, le=100)

class IndBoomEngine(Strategy):
    name = "indboom_engine"
    Params = P
    def indicators(self):
        if self.params.fast == 13:
            raise KeyError("unlucky indicators")
        return [SMA(self.params.fast)]
    def warmup(self):
        return 40
    def signals(self, frame):
        return cross_signals(frame["close"].to_numpy(float), frame["close"].to_numpy(float))
"""


@pytest.fixture
def strategies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("OXBOT_HOME", str(tmp_path / "home"))
    d = tmp_path / "home" / "config" / "strategies"
    d.mkdir(parents=True)
    yield d
    for f in d.glob("*.py"):  # the registry is the process's: take the test's names out
        f.unlink()
    loader.discover(d, entry_points=False)


def engine_for(store, db_path: Path):
    opts = RuntimeOptions(db_path=db_path)
    return make_engine(store, max_candles=None, strategy_factory=strategy_factory(opts))


async def test_sys_exit_in_signals_fails_that_bot_only_with_its_file_line(
    store, db_path, strategies
) -> None:
    """A2: before, SystemExit from signals() ended the whole engine (all bots) silently."""
    path = strategies / "exits_live.py"
    path.write_text(EXIT_IN_SIGNALS)
    h = Harness(engine_for(store, db_path))
    await h.start()
    try:
        good = BotConfig(name="good", strategy="sma_cross", symbols=["BTC/USDT"], timeframe="1m")
        bad = BotConfig(
            name="bad",
            strategy="exits_live",
            symbols=["BTC/USDT"],
            timeframe="1m",
        )
        assert (await h.do(AddBot(config=good, start=True))).ok
        assert (await h.do(AddBot(config=bad, start=True))).ok
        await h.drain(
            lambda: (
                h.engine.runners["bad"].status is BotStatus.ERROR
                and sum(isinstance(e, DecisionMade) and e.bot == "good" for e in h.events) >= 40
            )
        )
        assert h.task is not None and not h.task.done()  # the engine still runs
        assert f"{path}:10: SystemExit: 5" in h.engine.runners["bad"].view().last_error
        # stopped at its first failed cycle, not after its 20 retries: it would exit every time
        assert h.engine.runners["bad"].consecutive_errors == 1
        await h.drain(
            lambda: any(
                isinstance(e, Notice) and "its strategy tried to end the process" in e.message
                for e in h.events
            )
        )
        assert h.engine.runners["good"].status is BotStatus.RUNNING
    finally:
        await h.stop()


async def test_a_stored_bot_whose_indicators_raise_is_in_error_with_file_line(
    store, db_path, strategies
) -> None:
    """A14: before, the engine logged a traceback ("could not resume") and left the bot
    "stopped" with no message; now it is in error with the one-line file:line message."""
    path = strategies / "indboom_engine.py"
    path.write_text(INDICATORS_RAISE)
    cfg = BotConfig(
        name="ib13",
        strategy="indboom_engine",
        params={"fast": 13},
        symbols=["BTC/USDT"],
        timeframe="1m",
    )
    await store.save_bot(cfg, BotStatus.RUNNING)
    h = Harness(engine_for(store, db_path))
    await h.start()
    try:
        view = {b.name: b for b in h.engine.snapshot().bots}
        assert view["ib13"].status is BotStatus.ERROR
        assert f"{path}:12: KeyError: 'unlucky indicators'" in view["ib13"].last_error
        refused = await h.do(AddBot(config=cfg.model_copy(update={"name": "ib13b"})))
        assert not refused.ok and f"{path}:12: KeyError" in refused.message
    finally:
        await h.stop()
