"""engine/backtest/botrun.py on its own (fast): what the live BotRunner does with a missing bar
(engine/bot.py ``_on_bar``: a decision and an equity sample only once every symbol's bar at a
close has arrived), its cadence (``_due``), and the ledger's exact books."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from oxbot.engine.backtest.botrun import run_bot
from oxbot.engine.errors import DataError
from oxbot.engine.models import BotConfig, OrderReason, RiskLimits
from oxbot.engine.strategies import build_strategy

SYMS = ("BTC/USDT", "ETH/USDT")
HOUR = 3_600_000
LIMITS = RiskLimits(max_position_pct=Decimal(40), max_exposure_pct=Decimal(60))


def config(**kw: Any) -> BotConfig:
    return BotConfig(
        name="unit",
        symbols=SYMS,
        timeframe="1h",
        params={"fast": 5, "slow": 20},
        risk=LIMITS,
        **kw,
    )


def frames(bt: Any, n: int = 800) -> dict[str, Any]:
    return {s: bt.generated_candles(n, seed=seed) for seed, s in enumerate(SYMS, start=3)}


def simulate(cfg: BotConfig, data: dict[str, Any]) -> Any:
    return run_bot(cfg, build_strategy(cfg.strategy, cfg.params), data)


def test_books_add_up(bt) -> None:
    r = simulate(config(slippage_bps=Decimal(3)), frames(bt))
    assert len(r.fills) > 20
    fees = sum((f.fee for f in r.fills), Decimal(0))
    assert sum((rep.fees for rep in r.symbols.values()), Decimal(0)) == fees
    # cash = start - buys + sells - fees, exactly (Decimal)
    flow = sum(
        (f.qty * f.price * (1 if f.side.value == "sell" else -1) for f in r.fills), Decimal(0)
    )
    assert r.cash == r.start_cash + flow - fees
    opened = sum(rep.open_qty > 0 for rep in r.symbols.values())
    assert len(r.fills) == 2 * sum(len(rep.trades) for rep in r.symbols.values()) + opened
    assert len(r.equity) == len(r.ts) == 800


def test_a_missing_bar_means_no_decision_at_that_close(bt) -> None:
    data = frames(bt)
    whole = simulate(config(), data)
    entries = [f for f in whole.fills if f.reason is OrderReason.ENTRY]
    t = entries[3].ts  # a close at which the bot bought
    eth = data["ETH/USDT"]
    data["ETH/USDT"] = eth[eth["ts"] != t - HOUR].reset_index(drop=True)
    gap = simulate(config(), data)
    assert t not in gap.ts.tolist() and len(gap.ts) == len(whole.ts) - 1
    decided = {f.ts for f in gap.fills if f.reason in (OrderReason.ENTRY, OrderReason.EXIT)}
    assert t not in decided


def test_cadence_spaces_the_decisions(bt) -> None:
    r = simulate(config(cadence_s=3 * 3600), frames(bt))
    first = int(r.ts[0])
    decided = [f.ts for f in r.fills if f.reason in (OrderReason.ENTRY, OrderReason.EXIT)]
    assert decided and all((ts - first) % (3 * HOUR) == 0 for ts in decided)
    stops = [f for f in r.fills if f.reason in (OrderReason.STOP_LOSS, OrderReason.TAKE_PROFIT)]
    assert stops  # SL/TP are watched on every price, whatever the cadence


def test_ranges_that_do_not_overlap(bt) -> None:
    data = frames(bt, 200)
    data["ETH/USDT"] = data["ETH/USDT"].assign(ts=data["ETH/USDT"]["ts"] + 500 * HOUR)
    with pytest.raises(DataError, match="do not overlap"):
        simulate(config(), data)


def test_a_strategy_with_its_own_decide_is_refused(bt) -> None:
    from oxbot.engine.errors import ConfigError
    from oxbot.engine.strategies.rules import SmaCross

    class Picky(SmaCross):
        name = "picky"

        def wants_decision(self, ctx: Any) -> bool:
            return ctx.ts % 2 == 0

    with pytest.raises(ConfigError, match="its own wants_decision"):
        run_bot(config(), Picky(SmaCross.Params(fast=5, slow=20)), frames(bt, 100))
