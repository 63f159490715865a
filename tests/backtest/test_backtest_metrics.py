"""The report's metrics on crafted equity curves and ledgers, against values computed by hand:
drawdown depth and time under water, exposure, trades per day, holding time, fees, expectancy,
and Sharpe/Sortino annualised by the bar spacing and n/a below the sample thresholds."""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pytest

from oxbot.app.backtests import json_metrics, ratio_legend, span, timeframe
from oxbot.engine.backtest.ledger import Trade
from oxbot.engine.backtest.metrics import (
    MIN_PERIODS,
    MIN_TRADES,
    compute_metrics,
    max_drawdown_duration_ms,
    max_drawdown_pct,
    profit_factor,
)

H = 3_600_000
DAY = 24 * H
T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC


def hourly(n: int, step: int = H) -> np.ndarray:
    return T0 + np.arange(n, dtype=np.int64) * step


def trade(entry_bar: int, exit_bar: int, pnl: str, fees: str = "1", step: int = H) -> Trade:
    return Trade(
        entry_ts=T0 + entry_bar * step,
        exit_ts=T0 + exit_bar * step,
        entry_bar=entry_bar,
        exit_bar=exit_bar,
        entry_price=Decimal(100),
        exit_price=Decimal(100),
        qty=Decimal(1),
        pnl=Decimal(pnl),
        fees=Decimal(fees),
        reason="signal",
    )


def metrics(equity, trades, step=H, held=None, cash="100"):
    equity = np.asarray(equity, dtype=np.float64)
    n = len(equity)
    return compute_metrics(
        trades=trades,
        equity=equity,
        held=np.zeros(n) if held is None else np.asarray(held, dtype=np.float64),
        ts=hourly(n, step),
        buy_hold=Decimal(cash),
        start_cash=Decimal(cash),
        final_equity=Decimal(repr(float(equity[-1]))),
        step_ms=step,
        elapsed_s=0.0,
    )


def test_drawdown_depth_and_the_longest_time_under_a_peak() -> None:
    # peak 110 at bar 1, down to 99 (-10 %), back to 110 at bar 4: 3 h under water;
    # then peak 120 at bar 5, 114 (-5 %) and never back by bar 7: 2 h
    eq = np.array([100, 110, 99, 104, 110, 120, 114, 115], dtype=np.float64)
    assert max_drawdown_pct(eq) == pytest.approx(10.0)
    assert max_drawdown_duration_ms(eq, hourly(8)) == 3 * H
    # the same second dip lasting to bar 10 without recovering: 5 h, longer than the first
    eq2 = np.array([100, 110, 99, 104, 110, 120, 114, 115, 116, 117, 118], dtype=np.float64)
    assert max_drawdown_duration_ms(eq2, hourly(11)) == 5 * H
    # on daily bars the same shape is 5 days
    assert max_drawdown_duration_ms(eq2, hourly(11, DAY)) == 5 * DAY
    # never under a previous peak (flat counts as at the peak): no drawdown time
    assert max_drawdown_duration_ms(np.array([1.0, 2.0, 2.0, 3.0]), hourly(4)) == 0
    assert metrics(eq2, [])["max_drawdown_duration_h"] == pytest.approx(5.0)


def test_exposure_trades_per_day_holding_fees_and_expectancy() -> None:
    held = [0, 1, 1, 0, 0, 0, 1, 0] * 6  # 3 of 8 bars: 37.5 %
    trades = [
        trade(1, 3, "12.50", "0.40"),  # 2 h
        trade(6, 10, "-4.10", "0.35"),  # 4 h
        trade(20, 26, "3.00", "0.25"),  # 6 h
    ]
    m = metrics([100.0] * 48, trades, held=held)
    assert m["exposure_pct"] == pytest.approx(37.5)
    assert m["trades_per_day"] == pytest.approx(3 / 2)  # 48 hourly bars = 2 days
    assert m["avg_holding_h"] == pytest.approx(4.0)
    assert m["fees_paid"] == pytest.approx(1.00)
    assert m["expectancy"] == pytest.approx((12.50 - 4.10 + 3.00) / 3)  # 3.80
    assert profit_factor(trades) == pytest.approx(15.5 / 4.1)
    # none of those ratios on 3 trades, the profit factor neither (adv13 A8)
    assert m["sharpe"] is m["sortino"] is m["calmar"] is m["profit_factor"] is None


def alternating(n_returns: int) -> np.ndarray:
    """An equity curve of +2 %, -1 %, +2 %, ... bar returns."""
    r = np.where(np.arange(n_returns) % 2 == 0, 0.02, -0.01)
    return 100.0 * np.concatenate(([1.0], np.cumprod(1 + r)))


def ten_trades() -> list[Trade]:
    return [trade(i, i + 1, "1") for i in range(MIN_TRADES)]


def test_sharpe_and_sortino_by_hand_on_hourly_bars() -> None:
    m = metrics(alternating(30), ten_trades())
    # 30 returns: mean 0.005; each deviates 0.015, so sd (n-1) = 0.015 * sqrt(30/29);
    # downside deviation (target 0) = sqrt(15 * 0.01**2 / 30); 8,766 hourly bars a year
    per_year = 365.25 * 24
    assert m["bars_per_year"] == pytest.approx(per_year)
    expected_sharpe = 0.005 / (0.015 * math.sqrt(30 / 29)) * math.sqrt(per_year)
    expected_sortino = 0.005 / math.sqrt(15 * 0.01**2 / 30) * math.sqrt(per_year)
    assert m["sharpe"] == pytest.approx(expected_sharpe, rel=1e-9)
    assert m["sortino"] == pytest.approx(expected_sortino, rel=1e-9)
    assert m["calmar"] == pytest.approx(m["cagr_pct"] / m["max_drawdown_pct"])


def test_the_same_returns_on_hourly_and_daily_bars_differ_by_sqrt_24() -> None:
    hourly_m = metrics(alternating(40), ten_trades(), step=H)
    daily_m = metrics(alternating(40), ten_trades(), step=DAY)
    assert hourly_m["sharpe"] / daily_m["sharpe"] == pytest.approx(math.sqrt(24), rel=1e-12)
    assert hourly_m["sortino"] / daily_m["sortino"] == pytest.approx(math.sqrt(24), rel=1e-12)


@pytest.mark.parametrize(
    ("returns", "trades", "shown"),
    [
        (MIN_PERIODS - 1, MIN_TRADES, False),  # 29 return periods
        (MIN_PERIODS, MIN_TRADES - 1, False),  # 9 closed trades
        (MIN_PERIODS, MIN_TRADES, True),
        (500, 4, False),  # many bars, 4 trades: no "Sharpe 34"
    ],
)
def test_ratios_are_na_below_the_thresholds(returns, trades, shown) -> None:
    assert (MIN_PERIODS, MIN_TRADES) == (30, 10)  # the README and the legend say so
    m = metrics(alternating(returns), [trade(i, i + 1, "1") for i in range(trades)])
    for key in ("sharpe", "sortino", "calmar"):
        assert (m[key] is not None) is shown, key
    assert m["return_periods"] == returns


class _Result:
    def __init__(self, m, trades, final) -> None:
        self.metrics, self.trades, self.final_equity, self.halts = m, trades, final, []


def test_json_money_is_decimal_text_and_the_legend_names_the_timeframe() -> None:
    trades = [trade(1, 3, "12.505", "0.40"), trade(6, 10, "-4.10", "0.35")]
    m = metrics([100.0] * 48, trades)
    m.update(fee_rate=0.001, slippage_bps=0.0)
    final = Decimal("108.405")
    out = json_metrics(
        _Result(m, trades, final), source="x.csv", symbol="BTC/USDT", cash=Decimal(100)
    )
    # (12.505 - 4.10) / 2 = 4.2025 → 4.20 (half-even to the cent), from the Decimal ledger
    assert out["expectancy"] == "4.20" and out["fees_paid"] == "0.75"
    assert out["timeframe"] == "1h" and out["avg_holding_h"] == 3.0
    assert out["sharpe"] is None
    assert ratio_legend(out) == (
        "Sharpe/Sortino/Calmar: 1h bars, 8,766 a year (24/7)",
        "n/a below 30 return periods or 10 closed trades",
    )
    no_trades = json_metrics(
        _Result(
            metrics([100.0] * 48, []) | {"fee_rate": 0.001, "slippage_bps": 0.0}, [], Decimal(100)
        ),
        source="x.csv",
        symbol="BTC/USDT",
        cash=Decimal(100),
    )
    assert no_trades["expectancy"] is None and no_trades["avg_holding_h"] is None


def test_spans_and_timeframes_as_a_trader_reads_them() -> None:
    assert span(None) == "n/a"
    assert span(45 * 60_000) == "45m"
    assert span(5.5 * H) == "5h 30m"
    assert span(3 * DAY + 4 * H) == "3d 4h"
    assert [timeframe(x) for x in (60_000, 15 * 60_000, H, 4 * H, DAY, 0)] == [
        "1m",
        "15m",
        "1h",
        "4h",
        "1d",
        "?",
    ]
