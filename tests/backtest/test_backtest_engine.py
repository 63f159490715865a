"""Engine behaviour: no look-ahead, the risk-managed path, flat memory."""

from __future__ import annotations

import sys
from decimal import Decimal

import numpy as np
import pytest

from oxbot.engine.backtest import BacktestConfig, run_backtest
from oxbot.engine.market.csvdata import load_csv, timeframe_of
from oxbot.engine.strategies import build_strategy


@pytest.mark.parametrize("use_risk", [False, True], ids=["no-risk", "risk"])
@pytest.mark.parametrize(
    "name, params", [("sma_cross", {"fast": 5, "slow": 20}), ("rsi_reversion", {})]
)
def test_changing_future_candles_never_changes_the_past(bt, name, params, use_risk) -> None:
    frame = bt.generated_candles(1500, seed=5)
    k = 1200
    future = bt.generated_candles(1500, seed=99)
    changed = frame.copy()
    for col in ("open", "high", "low", "close", "volume"):
        changed.loc[k:, col] = future.loc[k:, col] * 1.7  # a wholly different future
    cfg = BacktestConfig(build_strategy(name, params), use_risk=use_risk)
    a, b = run_backtest(frame, cfg), run_backtest(changed, cfg)
    # Every decision up to bar k-1 is the same ...
    assert np.array_equal(a.signals[:k], b.signals[:k])
    # ... and so is every trade that ended before bar k (fills at k's open are allowed to
    # differ: a decision at k-1's close fills at k's open, which is the future).
    done_a = [t for t in a.trades if t.exit_bar < k]
    done_b = [t for t in b.trades if t.exit_bar < k]
    assert done_a == done_b and len(done_a) >= 3
    assert np.array_equal(a.equity[:k], b.equity[:k])
    assert not np.array_equal(a.equity, b.equity)  # the change did reach the backtest


def test_fills_happen_at_the_next_open(bt) -> None:
    frame = bt.generated_candles(800, seed=2)
    res = run_backtest(
        frame, BacktestConfig(build_strategy("sma_cross", {}), use_risk=False, fee_rate=Decimal(0))
    )
    for t in res.trades:
        assert res.signals[t.entry_bar - 1] == 1
        assert t.entry_price == Decimal(repr(float(frame["open"][t.entry_bar])))
        if t.reason == "signal":
            assert res.signals[t.exit_bar - 1] == -1
            assert t.exit_price == Decimal(repr(float(frame["open"][t.exit_bar])))
    assert res.trades[-1].reason in ("end", "signal")


def test_risk_path_sizes_and_stops(bt) -> None:
    frame = bt.generated_candles(3000, seed=21)
    res = run_backtest(frame, BacktestConfig(build_strategy("sma_cross", {"fast": 5, "slow": 20})))
    assert res.trades
    reasons = {t.reason for t in res.trades}
    assert reasons & {"stop_loss", "take_profit"}  # the volatile walk reaches the stops
    for t in res.trades:
        # 15 % max position of equity (equity <= start here + gains; generous bound)
        assert t.qty * t.entry_price <= Decimal("0.15") * Decimal(res.equity.max()) * Decimal(
            "1.0001"
        )
        lo, hi = frame["low"][t.exit_bar], frame["high"][t.exit_bar]
        if t.reason == "stop_loss":
            assert t.exit_price < t.entry_price and t.pnl < 0
            assert float(t.exit_price) >= lo - 1e-9 or t.exit_price == Decimal(
                repr(float(frame["open"][t.exit_bar]))
            )  # the level, or the open of a gap
        if t.reason == "take_profit":
            assert float(t.exit_price) <= hi + 1e-9 and t.exit_price > t.entry_price
    pnl = sum((t.pnl for t in res.trades), Decimal(0))
    assert Decimal(repr(res.metrics["final_equity"])) == (Decimal(10000) + pnl).quantize(
        Decimal("1e-8")
    )


def test_200k_bar_run_holds_no_per_bar_python_objects(bt, tmp_path) -> None:
    """Python-allocator blocks alive during a 200,000-bar run (sampled at each progress
    report) stay far below one per bar; numpy arrays do not count as blocks."""
    frame = bt.generated_candles(200_000, seed=4, step_ms=300_000)
    cfg = BacktestConfig(build_strategy("sma_cross", {}), use_risk=True)
    run_backtest(frame.head(1000), cfg)  # lazy imports and caches first
    base = sys.getallocatedblocks()
    peak = [base]

    def sample(_stage: str, _f: float) -> None:
        peak.append(sys.getallocatedblocks())

    res = run_backtest(frame, cfg, progress=sample)
    peak.append(sys.getallocatedblocks())
    assert res.metrics["bars"] == 200_000 and res.metrics["trades"] > 100
    grown = max(peak) - base
    # The ledger holds a few Decimal objects per trade; one object per bar would be 200,000+.
    bound = 10_000 + 40 * res.metrics["trades"]
    assert bound < 200_000
    assert grown < bound, f"{grown} Python blocks alive for 200,000 bars"


def test_load_csv_types_and_timeframe(bt, tmp_path) -> None:
    path = bt.write_csv(tmp_path / "x.csv", bt.generated_candles(50, step_ms=300_000))
    df = load_csv(path)
    assert list(df.columns) == ["ts", "open", "high", "low", "close", "volume"]
    assert str(df["ts"].dtype) == "int64" and str(df["close"].dtype) == "float64"
    assert timeframe_of(df) == "5m"
