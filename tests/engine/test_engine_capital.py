"""Editing a bot's capital is a deposit or a withdrawal in the ledger, never profit or loss.

The defect (issue 11, section 3): lowering a running bot's capital from 10,000 to 7,500 showed
-2,500.00 (-10 %) "Today" with no trade, and left an open position at 30 % of the new equity
without a word. Now: Today's P&L and the total P&L the cockpit shows (BotView, EngineSnapshot,
DashboardState) are unchanged by an edit, the wallet's invariant holds exactly
(cash + cost basis = start + deposits + realised - fees), the equity history carries the step
as a flow, the risk manager says what is over a limit (a Notice and a reasoning entry), a
withdrawal larger than the free cash is refused, and a restart rebuilds the same numbers.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from oxbot.engine import messages as m
from oxbot.engine.engine import Engine
from oxbot.engine.messages import (
    AddBot,
    DecisionMade,
    EquityHistory,
    Notice,
    RequestEquityHistory,
    UpdateBot,
)
from oxbot.engine.models import BotConfig, BotStatus
from oxbot.engine.strategies import Strategy, build_strategy
from oxbot.engine.strategies.base import ENTER
from oxbot.storage.store import Store
from oxbot.tui.state import DashboardState

from .conftest import Harness, make_engine

HOLD_RISK = {
    "max_position_pct": "30",
    "max_exposure_pct": "85",
    "stop_loss_pct": "90",
    "take_profit_pct": "1000",
}


class BuyAndHold(Strategy):
    """Buys when flat, then holds: one position that stays open."""

    name = "buy_and_hold"

    def signals(self, frame: pd.DataFrame) -> np.ndarray:
        return np.full(len(frame), ENTER, dtype=np.int8)


def factory(config: BotConfig) -> Strategy:
    if config.strategy == BuyAndHold.name:
        return BuyAndHold()
    return build_strategy(config.strategy, config.params)


def holder(capital: str = "10000") -> BotConfig:
    return BotConfig(
        name="c",
        strategy=BuyAndHold.name,
        symbols=("BTC/USDT",),
        capital=Decimal(capital),
        risk=HOLD_RISK,
    )


def ui_numbers(engine: Engine) -> tuple[Decimal, Decimal, Decimal]:
    """(Today's P&L, total P&L, return %) as the cockpit computes them from a snapshot."""
    state = DashboardState()
    state.apply(engine.snapshot())
    view = state.bots["c"]
    return state.pnl_today(), view.equity - view.start_equity, view.pnl_pct


async def test_a_capital_edit_is_a_withdrawal_not_a_loss(store: Store) -> None:
    # A finite market: once it ran out, nothing moves, so the numbers compare exactly.
    h = Harness(make_engine(store, max_candles=60, strategy_factory=factory))
    await h.start()
    try:
        assert (await h.do(AddBot(config=holder(), start=True))).ok
        r = h.engine.runners["c"]
        await h.finish_market()
        assert r.portfolio.position("BTC/USDT") is not None and r.status is BotStatus.RUNNING
        today, total, pct = ui_numbers(h.engine)
        before = r.view()
        assert today != 0 and total != 0  # the position moved: there is P&L to keep

        done = await h.do(UpdateBot(name="c", config=holder("7500")))
        assert done.ok, done.message
        r2 = h.engine.runners["c"]
        after = r2.view()
        # What the cockpit shows: Today's P&L and the total P&L are untouched; the return is
        # on net deposits.
        assert ui_numbers(h.engine) == (today, total, total / Decimal(7500) * 100)
        assert r2.status is BotStatus.RUNNING
        assert after.cash == before.cash - 2500 and after.equity == before.equity - 2500
        assert r2.portfolio.deposits == Decimal(-2500)
        assert after.start_equity == r2.portfolio.net_deposits == Decimal(7500)
        assert r2.portfolio.invariant_holds()
        assert after.realised == before.realised and after.fees == before.fees

        # The risk manager re-checked the position against the smaller equity and said so.
        notice = next(
            e
            for e in h.events
            if isinstance(e, Notice) and e.bot == "c" and "withdrawal of 2,500.00" in e.message
        )
        assert notice.level == "warning"
        assert "BTC/USDT position is" in notice.message
        assert "above the 30% limit" in notice.message
        entry = next(
            e
            for e in h.events
            if isinstance(e, DecisionMade) and e.bot == "c" and e.source == "capital"
        )
        assert "capital 10,000.00 -> 7,500.00" in entry.reasoning
        assert any("above the 30% limit" in why for why in entry.verdict_reasons)
        flow = next(e for e in h.events if isinstance(e, m.CapitalChanged))
        assert (flow.amount, flow.capital) == (Decimal(-2500), Decimal(7500))

        # A withdrawal larger than the free cash is refused, and nothing changes.
        done = await h.do(UpdateBot(name="c", config=holder("1000")))
        assert not done.ok
        assert "more than its free cash" in done.message
        assert "nothing was changed" in done.message
        assert h.engine.runners["c"].status is BotStatus.RUNNING
        assert (await store.load_bots())[0][0].capital == Decimal(7500)
        assert len(await store.load_flows("c")) == 1
        assert h.engine.runners["c"].view().cash == after.cash

        # The equity curve carries the step as a flow: the chart draws it as net deposits.
        await h.do(RequestEquityHistory(bot="c", limit=5000))
        history = next(e for e in reversed(h.events) if isinstance(e, EquityHistory))
        assert history.flows == ((flow.ts, Decimal(-2500)),)
        state = DashboardState()
        state.apply(h.engine.snapshot())
        state.apply(history)
        steps = state.deposits_of("c")
        assert steps[0][1] == 10000 and steps[-1][1] == 7500
        assert (flow.ts, 10000.0) in steps and (flow.ts, 7500.0) in steps
        kept = (
            r2.portfolio.cash,
            r2.portfolio.net_deposits,
            r2.day_start_equity,
            r2.portfolio.position("BTC/USDT"),
            r2.risk.state(),
        )
    finally:
        await h.stop()

    # A restart rebuilds the same wallet, day start, net deposits and kill-switch memory.
    again = make_engine(store, max_candles=None, strategy_factory=factory)
    await again._load()
    r3 = again.runners["c"]
    assert (
        r3.portfolio.cash,
        r3.portfolio.net_deposits,
        r3.day_start_equity,
        r3.portfolio.position("BTC/USDT"),
        r3.risk.state(),
    ) == kept
    assert r3.portfolio.invariant_holds()


async def test_a_deposit_on_a_stopped_bot_is_not_todays_profit(store: Store) -> None:
    h = Harness(make_engine(store, max_candles=None, strategy_factory=factory))
    await h.start()
    try:
        assert (await h.do(AddBot(config=holder()))).ok  # never ran: no sample at all
        assert (await h.do(UpdateBot(name="c", config=holder("12500")))).ok
        assert ui_numbers(h.engine)[:2] == (Decimal(0), Decimal(0))
        view = h.engine.runners["c"].view()
        assert view.equity == view.start_equity == view.day_start_equity == Decimal(12500)
        notice = next(e for e in h.events if isinstance(e, Notice) and e.bot == "c")
        assert notice.level == "info" and "deposit of 2,500.00" in notice.message
    finally:
        await h.stop()


async def test_the_kill_switches_measure_performance_not_flows(store: Store) -> None:
    """A withdrawal while in a drawdown must not trip the switch (it is not a loss), and a
    deposit must not clear a tripped one (it is not a gain): both references scale with the
    wallet."""
    h = Harness(make_engine(store, max_candles=None, strategy_factory=factory))
    await h.start()
    try:
        assert (await h.do(AddBot(config=holder(), start=True))).ok
        r = h.engine.runners["c"]
        await h.drain(lambda: r.risk.peak_equity is not None and r.cycles >= 3)
        # The market waits (MarketHub.wait_turn, awaited before every candle) until the new
        # runner's switches are read: else it may see a new peak during the update's writes.
        # It is parked there first (the candle in flight handled by every bot), so nothing
        # moves between the update and the figures read below.
        gate, parked = asyncio.Event(), asyncio.Event()

        async def park() -> None:
            parked.set()
            await gate.wait()

        h.engine.hub.wait_turn = park  # type: ignore[method-assign]
        await asyncio.wait_for(parked.wait(), 60)
        await h.do(UpdateBot(name="c", config=holder("8000")))  # stops, saves, restarts
        r2 = h.engine.runners["c"]
        state, old = r2.risk.state(), r.risk.state()
        eq = r.portfolio.equity(r.marks)
        stored: Any = await store.load_risk_state("c")  # before the market moves on
        gate.set()
        assert old.peak_equity is not None and state.peak_equity is not None
        assert state.peak_equity == old.peak_equity * (eq - 2000) / eq
        assert stored.peak_equity == state.peak_equity
    finally:
        await h.stop()
