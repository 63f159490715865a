"""`oxbot backtest` as a subprocess: the report's new metric lines and legend, the JSON keys
behind them, and Sharpe/Sortino/Calmar shown as n/a on a run with too few trades.

The candles oscillate around 100 with a 12-hour period, so an SMA 2/4 cross buys and sells once
every 12 bars (about 20 round trips in 240 hourly bars, about 5 in 60)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

SMA = ("--strategy", "sma_cross", "--param", "fast=2", "--param", "slow=4")
T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC


def sine_csv(path: Path, n: int) -> Path:
    i = np.arange(n)
    close = 100 + 3 * np.sin(i * 2 * np.pi / 12)
    open_ = np.concatenate(([close[0]], close[:-1]))
    rows = ["timestamp,open,high,low,close,volume"]
    for k in range(n):
        hi, lo = max(open_[k], close[k]) * 1.001, min(open_[k], close[k]) * 0.999
        rows.append(f"{T0 + k * 3_600_000},{open_[k]:.6f},{hi:.6f},{lo:.6f},{close[k]:.6f},1")
    path.write_text("\n".join(rows) + "\n")
    return path


def value(out: str, label: str) -> str:
    """The text after ``label`` on its report line, up to the next column."""
    line = next(line for line in out.splitlines() if f"  {label}  " in f"{line}  ")
    return line.split(label, 1)[1].strip().split("  ")[0].strip()


def test_report_lines_json_keys_and_na_ratios(home, tmp_path: Path) -> None:
    long_csv = sine_csv(tmp_path / "sine_BTC-USDT_1h.csv", 240)
    r = home.cli("backtest", *SMA, "--data", str(long_csv), "--json")
    assert r.returncode == 0, r.stderr
    m = json.loads(r.stdout)
    assert m["trades"] >= 10 and m["return_periods"] == 239
    for key in ("sharpe", "sortino", "calmar"):
        assert isinstance(m[key], float), key  # enough periods and trades: a number
    assert m["timeframe"] == "1h" and m["bars_per_year"] == 8766.0
    assert m["trades_per_day"] == round(m["trades"] / 10, 4)  # 240 hourly bars = 10 days
    assert 0 < m["exposure_pct"] < 100
    assert isinstance(m["expectancy"], str) and isinstance(m["max_drawdown_duration_h"], float)

    r = home.cli("backtest", *SMA, "--data", str(long_csv))
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert value(out, "Sharpe") == f"{m['sharpe']:.2f}"
    assert value(out, "trades per day") == f"{m['trades_per_day']:.2f}"
    assert value(out, "expectancy") == f"{float(m['expectancy']):+,.2f}"
    assert value(out, "exposure") == f"{m['exposure_pct']:.1f} %"
    assert value(out, "fees paid") == f"{float(m['fees_paid']):,.2f}"
    for label in ("drawdown time", "average hold", "Calmar"):
        assert value(out, label) not in ("", "n/a"), label
    assert "Sharpe/Sortino/Calmar: 1h bars, 8,766 a year (24/7)" in out
    assert "n/a below 30 return periods or 10 closed trades" in out

    short_csv = sine_csv(tmp_path / "short_BTC-USDT_1h.csv", 60)
    r = home.cli("backtest", *SMA, "--data", str(short_csv), "--json")
    assert r.returncode == 0, r.stderr
    short = json.loads(r.stdout)
    assert 0 < short["trades"] < 10 and short["return_periods"] == 59
    assert short["sharpe"] is short["sortino"] is short["calmar"] is None
    r = home.cli("backtest", *SMA, "--data", str(short_csv))
    for label in ("Sharpe", "Sortino", "Calmar"):
        assert value(r.stdout, label) == "n/a", label
