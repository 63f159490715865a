"""`oxbot backtest` as a user runs it: bad input → one clear line and exit 2; JSON; exports."""

from __future__ import annotations

import csv
import json
import re
from decimal import Decimal
from pathlib import Path

import pytest

GOOD = "timestamp,open,high,low,close,volume"


@pytest.fixture
def data(tmp_path: Path, bt) -> Path:
    return bt.write_csv(tmp_path / "gen_BTC-USDT_1h.csv", bt.generated_candles(600, seed=3))


def _bad(tmp_path: Path, bt, lines: list[str]) -> str:
    return str(bt.write_text(tmp_path / "bad.csv", lines))


ROW = "1700000000000,10,11,9,10.5,1"


@pytest.mark.parametrize(
    "lines, needle",
    [
        ([], "empty"),
        (["time,o,h,l,c,v", ROW], "wrong header"),
        ([GOOD], "no candles"),
        ([GOOD, ROW, "1700003600000,10,abc,9,10,1"], "line 3: high 'abc' is not a number"),
        ([GOOD, ROW, "1700003600000,10,11,9,,1"], "line 3"),
        ([GOOD, ROW, "1700003600000,10,11,0,10,1"], "line 3: low 0 is not a positive price"),
        ([GOOD, ROW, "1700003600000,10,9.5,9,10,1"], "line 3: high 9.5 is below max"),
        ([GOOD, ROW, "1700003600000,10,11,10.2,10.1,1"], "line 3: low 10.2 is above min"),
        ([GOOD, ROW, ROW], "line 3: duplicate timestamp"),
        ([GOOD, "1700003600000,10,11,9,10.5,1", ROW], "line 3: timestamp 1700000000000 is earlier"),
        ([GOOD, "1700000000,10,11,9,10.5,1"], "not in milliseconds"),
        # a bad print (a wick or a close 100x off the close before): it would fill stops there
        ([GOOD, ROW, "1700003600000,10.5,11,0.000001,10,1"], "line 3: a price 100x away"),
        ([GOOD, ROW, "1700003600000,10.5,1e22,10,1e22,1"], "line 3: a price 100x away"),
    ],
)
def test_malformed_csv_exits_2_with_the_line(cli, tmp_path, bt, lines, needle) -> None:
    path = _bad(tmp_path, bt, lines) if lines else str(bt.write_text(tmp_path / "e.csv", []))
    if not lines:
        Path(path).write_text("")
    code, out, err = cli("--strategy", "sma_cross", "--data", path, "--no-risk")
    assert code == 2
    assert needle in err and path in err
    assert "Traceback" not in err and out == ""
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--data", "/nonexistent/x.csv"], "file not found"),
        (["--param", "fast"], "must look like KEY=VALUE"),
        (["--param", "speed=3"], "speed: unknown parameter"),
        (["--param", "fast=40"], "fast (40) must be shorter than slow (30)"),
        (["--strategy", "nope"], "unknown strategy 'nope'"),
        (["--fee", "abc"], "--fee 'abc' is not a number"),
        (["--cash", "0"], "--cash must be > 0"),
    ],
)
def test_bad_arguments_exit_2(cli, data, argv, needle) -> None:
    base = {"--strategy": "sma_cross", "--data": str(data)}
    for flag, value in zip(argv[::2], argv[1::2], strict=True):
        if flag in base:
            base[flag] = value
    extra = [
        a
        for f, v in zip(argv[::2], argv[1::2], strict=True)
        if f not in ("--strategy", "--data")
        for a in (f, v)
    ]
    flat = [a for kv in base.items() for a in kv]
    code, out, err = cli(*flat, *extra)
    assert code == 2, err
    assert needle in err
    assert "Traceback" not in err


def test_too_few_bars_for_warmup(cli, tmp_path, bt) -> None:
    path = bt.write_csv(tmp_path / "short.csv", bt.generated_candles(25))
    code, _out, err = cli("--strategy", "sma_cross", "--data", str(path))
    assert code == 2
    assert "only 25 candles" in err and "needs at least 32" in err


def test_json_keys_and_values(cli, data) -> None:
    code, out, err = cli(
        "--strategy",
        "sma_cross",
        "--param",
        "fast=5",
        "--param",
        "slow=20",
        "--data",
        str(data),
        "--no-risk",
        "--json",
    )
    assert code == 0, err
    m = json.loads(out)
    for key in (
        "bars",
        "trades",
        "final_equity",
        "return_pct",
        "max_drawdown_pct",
        "sharpe",
        "win_rate",
        "exposure_pct",
        "buy_hold_return_pct",
        "elapsed_s",
        "cagr_pct",
        "sortino",
        "profit_factor",
        "avg_trade",
        "fees_paid",
        "calmar",
        "expectancy",
        "max_drawdown_duration_h",
        "trades_per_day",
        "avg_holding_h",
        "timeframe",
        "bars_per_year",
        "return_periods",
        "ratio_min_periods",
        "ratio_min_trades",
    ):
        assert key in m, key
    assert m["bars"] == 600 and m["trades"] > 0
    assert m["params"] == {"fast": 5, "slow": 20}
    # money is exact decimal text to the cent (USDT quote), never a float with noise
    for key in ("final_equity", "start_cash", "avg_trade", "expectancy", "fees_paid"):
        assert isinstance(m[key], str) and re.fullmatch(r"-?\d+\.\d{2}", m[key]), (key, m[key])
    assert m["start_cash"] == "10000.00"
    assert m["return_pct"] == pytest.approx((float(m["final_equity"]) / 10000 - 1) * 100, abs=1e-4)
    for key in ("return_pct", "max_drawdown_pct", "sharpe", "exposure_pct"):
        assert m[key] == round(m[key], 4), key


def test_exports_match_the_report(cli, data, tmp_path) -> None:
    trades_out, equity_out = tmp_path / "t.csv", tmp_path / "e.csv"
    code, out, err = cli(
        "--strategy",
        "sma_cross",
        "--data",
        str(data),
        "--json",
        "--trades-out",
        str(trades_out),
        "--equity-out",
        str(equity_out),
    )
    assert code == 0, err
    m = json.loads(out)
    with trades_out.open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == m["trades"] > 0
    assert set(rows[0]) == {
        "entry_ts",
        "exit_ts",
        "entry_price",
        "exit_price",
        "qty",
        "pnl",
        "fees",
        "reason",
    }
    for r in rows:  # exact text: cents for money, 8 places for quantities
        assert re.fullmatch(r"-?\d+\.\d{2}", r["pnl"]) and re.fullmatch(r"\d+\.\d{2}", r["fees"])
        assert re.fullmatch(r"\d+\.\d{8}", r["qty"])
    total = sum(Decimal(r["pnl"]) for r in rows)
    # each row is rounded to the cent: the sum may be off by half a cent per trade
    assert abs(10000 + total - Decimal(m["final_equity"])) <= Decimal("0.005") * len(
        rows
    ) + Decimal("0.01")
    with equity_out.open() as f:
        eq = list(csv.DictReader(f))
    assert len(eq) == m["bars"]
    assert eq[-1]["equity"] == m["final_equity"]


def test_human_report_has_chart_and_metrics(cli, data) -> None:
    code, out, err = cli("--strategy", "sma_cross", "--data", str(data), "--no-risk")
    assert code == 0, err
    assert "equity (marked at each close)" in out
    assert any(ch in out for ch in "⣀⠁⠂⠄⡀⢀")  # braille dots of the curve
    for label in ("final equity", "max drawdown", "Sharpe", "win rate", "buy & hold"):
        assert label in out
    assert "\x1b[" not in out  # not a terminal: no colour codes
    assert err == ""  # no progress bar when stderr is not a terminal
