"""A tripped kill switch survives an edit of the bot (the engine rebuilds the bot for every
edit: it used to rebuild the risk manager's memory from nothing, so any edit, even of the
cadence, cleared a tripped drawdown switch), a deposit (not a gain), and the engine's restart
(tests/e2e/test_e2e_kill_switch.py does it with SIGKILL)."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd

from oxbot.engine.messages import AddBot, DecisionMade, OrderFilled, UpdateBot
from oxbot.engine.models import BotConfig
from oxbot.engine.strategies import Strategy, build_strategy
from oxbot.engine.strategies.base import ENTER
from oxbot.storage.store import Store

from .conftest import Harness, make_engine

SWITCH = "drawdown kill switch"


class BuyWhenFlat(Strategy):
    name = "buy_when_flat"

    def signals(self, frame: pd.DataFrame) -> np.ndarray:
        return np.full(len(frame), ENTER, dtype=np.int8)


def factory(config: BotConfig) -> Strategy:
    if config.strategy == BuyWhenFlat.name:
        return BuyWhenFlat()
    return build_strategy(config.strategy, config.params)


def bot(**change: object) -> BotConfig:
    risk = {
        "max_position_pct": "100",
        "max_exposure_pct": "100",
        "stop_loss_pct": "0.3",
        "take_profit_pct": "50",
        "max_drawdown_pct": "0.5",
    }
    base = BotConfig(name="k", strategy=BuyWhenFlat.name, symbols=("BTC/USDT",), risk=risk)
    return base.model_copy(update=change)


async def test_a_tripped_switch_survives_edits_and_deposits(store: Store) -> None:
    h = Harness(make_engine(store, max_candles=None, strategy_factory=factory))
    await h.start()
    try:
        assert (await h.do(AddBot(config=bot(), start=True))).ok

        def refusals(since: int = 0) -> list[DecisionMade]:
            return [
                e
                for e in h.events[since:]
                if isinstance(e, DecisionMade)
                and e.bot == "k"
                and any(SWITCH in r for r in e.verdict_reasons)
            ]

        await h.drain(lambda: bool(refusals()))
        for change in ({"cadence_s": 120}, {"capital": Decimal("15000")}):
            mark = len(h.events)
            assert (await h.do(UpdateBot(name="k", config=bot(**change)))).ok

            def buys(m: int = mark) -> list[DecisionMade]:
                return [
                    e
                    for e in h.events[m:]
                    if isinstance(e, DecisionMade)
                    and e.bot == "k"
                    and ("BTC/USDT", "buy") in e.actions
                ]

            await h.drain(lambda b=buys: bool(b()))
            first = buys()[0]
            assert first.verdict == "rejected" and any(
                SWITCH in r for r in first.verdict_reasons
            ), first
            assert not [
                e
                for e in h.events[mark:]
                if isinstance(e, OrderFilled) and e.bot == "k" and e.side == "buy"
            ]
    finally:
        await h.stop()
