"""Parity with the issue's reference semantics (sma_cross 10/30, --no-risk, all-in), against
the plain bar-by-bar reference in conftest.py."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from oxbot.engine.backtest import BacktestConfig, run_backtest
from oxbot.engine.market.csvdata import load_csv
from oxbot.engine.strategies import build_strategy

SHARED_OHLCV = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "ohlcv"
FILES = sorted(SHARED_OHLCV.glob("*_1h*.csv")) if SHARED_OHLCV.is_dir() else []
FEES = (Decimal("0"), Decimal("0.001"))
TOLERANCE = Decimal("0.0005")  # 0.05 %


def _check(bt, frame, fee: Decimal) -> tuple[int, Decimal, Decimal]:
    strat = build_strategy("sma_cross", {"fast": 10, "slow": 30})
    result = run_backtest(frame, BacktestConfig(strat, fee_rate=fee, use_risk=False))
    ref_trades, ref_equity = bt.reference(
        frame["open"].tolist(), frame["close"].tolist(), 10, 30, fee
    )
    ours = Decimal(repr(result.metrics["final_equity"]))
    assert result.metrics["trades"] == ref_trades
    assert abs(ours / ref_equity - 1) <= TOLERANCE, (ours, ref_equity)
    return ref_trades, ours, ref_equity


@pytest.mark.parametrize("fee", FEES, ids=lambda f: f"fee={f}")
def test_parity_on_generated_data(bt, fee: Decimal) -> None:
    trades, _ours, _ref = _check(bt, bt.generated_candles(3000, seed=11), fee)
    assert trades > 20  # the data must actually exercise entries and exits


@pytest.mark.realdata
@pytest.mark.skipif(
    not FILES,
    reason=f"real data folder {SHARED_OHLCV} is absent "
    "(parity on real candles runs only beside it)",
)
@pytest.mark.parametrize("fee", FEES, ids=lambda f: f"fee={f}")
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_parity_on_real_1h_files(bt, path: Path, fee: Decimal) -> None:
    trades, ours, ref = _check(bt, load_csv(path), fee)
    print(f"\n| {path.name} | {fee} | {trades} | {ours:.2f} | {ref:.2f} |")
