"""`oxbot backtest` as a user reads it: refusals before any work, risk halts with their date,
exports to stdout, an honest report (dates, n/a, no -0.00), CSV labelling and trimming."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

SMA = ("--strategy", "sma_cross", "--param", "fast=2", "--param", "slow=4")


def test_llm_strategy_runs_as_a_bot_and_asks_before_a_paid_model(oxbot, candles_csv) -> None:
    # Since issue 15 `--strategy llm` is backtested as a one-symbol bot (cli/backtest_bot.py;
    # tests/backtest/test_backtest_llm.py): the offline rules cost nothing and run.
    data = str(candles_csv())
    code, out, err = oxbot("backtest", "--strategy", "llm", "--data", data)
    assert code == 0, err
    assert "LLM offline offline-rules" in err and "offline rules (no model, free)" in err
    assert "bot backtest: llm" in out
    # a paid model, no terminal to ask on and no --yes / --max-cost: stored replies only
    code, out, err = oxbot(
        "backtest", "--strategy", "llm", "--param", "provider=openai", "--data", data
    )
    assert code == 2 and out == ""
    assert err.splitlines()[-1].startswith("oxbot: ") and "have no stored reply" in err
    assert "call it with --yes or --max-cost USD" in err


def test_llm_strategy_is_refused_by_a_sweep_with_the_rule_strategies_named(
    oxbot, candles_csv
) -> None:
    code, out, err = oxbot(
        "backtest", "--strategy", "llm", "--data", str(candles_csv()), "--sweep", "memory=1:3:1"
    )
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith("oxbot: ")
    assert "sma_cross" in err and "rsi_reversion" in err and "llm" in err


def test_an_output_path_equal_to_the_input_is_refused(oxbot, candles_csv) -> None:
    data = candles_csv()
    before = data.read_bytes()
    for flag in ("--trades-out", "--equity-out"):
        code, out, err = oxbot("backtest", *SMA, "--data", str(data), flag, str(data))
        assert code == 2 and "--data file itself" in err and out == ""
        assert data.read_bytes() == before


def test_fee_must_be_below_a_tenth(oxbot, candles_csv) -> None:
    code, out, err = oxbot("backtest", *SMA, "--data", str(candles_csv()), "--fee", "0.5")
    assert code == 2 and out == ""
    assert "below 0.1" in err and "0.005 for 0.5 %" in err


def test_daily_loss_limit_trip_is_reported_with_its_date(oxbot, candles_csv) -> None:
    data = candles_csv(crash_at=30)  # a gap down while holding, on 2024-01-02
    code, out, err = oxbot("backtest", *SMA, "--data", str(data), "--json")
    assert code == 0, err
    halts = json.loads(out)["risk_halts"]
    assert halts and halts[0]["date"] == "2024-01-02 11:00"
    assert halts[0]["reason"].startswith("daily loss limit")
    code, out, err = oxbot("backtest", *SMA, "--data", str(data))
    assert "risk halt 2024-01-02 11:00 UTC: daily loss limit" in out
    code, out, _ = oxbot("backtest", *SMA, "--data", str(candles_csv("calm.csv")), "--json")
    assert json.loads(out)["risk_halts"] == []


def test_trades_out_dash_writes_the_csv_to_stdout(
    oxbot, candles_csv, tmp_path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)  # a file literally named "-" would land here
    code, out, err = oxbot(
        "backtest", *SMA, "--data", str(candles_csv()), "--json", "--trades-out", "-"
    )
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    metrics = json.loads(err)  # the report moves to stderr so stdout stays one CSV
    assert len(rows) == metrics["trades"] > 0
    assert not Path("-").exists()


def test_report_has_dates_and_no_fake_numbers(oxbot, tmp_path) -> None:
    import pandas as pd

    flat = tmp_path / "flat_BTC-USDT_1h.csv"
    ts = [1_704_067_200_000 + i * 3_600_000 for i in range(100)]
    pd.DataFrame(
        {"timestamp": ts, "open": 100.0, "high": 100.0, "low": 100.0, "close": 100.0, "volume": 1.0}
    ).to_csv(flat, index=False)
    code, out, err = oxbot("backtest", *SMA, "--data", str(flat))
    assert code == 0, err
    assert "2024-01-01" in out and "date (UTC)" in out  # dates on the x-axis, not years
    assert "-0.00" not in out
    win = next(line for line in out.splitlines() if "win rate" in line)
    assert win.split("win rate", 1)[1].split()[0] == "n/a"  # not "0.0 %": no trade, no rate
    code, out, _ = oxbot("backtest", *SMA, "--data", str(flat), "--json")
    assert json.loads(out)["win_rate"] is None


def test_symbol_labels_a_csv_run_and_since_until_trim_it(oxbot, candles_csv) -> None:
    data = candles_csv()
    code, out, err = oxbot(
        "backtest",
        *SMA,
        "--data",
        str(data),
        "--json",
        "--symbol",
        "eth/usdt",
        "--since",
        "2024-01-03",
        "--until",
        "2024-01-05",
    )
    assert code == 0, err
    m = json.loads(out)
    assert m["symbol"] == "ETH/USDT" and m["bars"] == 48
    assert m["first_ts"] == 1_704_240_000_000  # 2024-01-03 00:00 UTC
    code, out, err = oxbot("backtest", *SMA, "--data", str(data), "--since", "2030-01-01")
    assert code == 2 and "no candles between" in err and "2024-01-01" in err


def test_exchange_symbol_format_is_checked_before_any_network(oxbot) -> None:
    code, out, err = oxbot(
        "backtest",
        *SMA,
        "--exchange",
        "binance",
        "--symbol",
        "BTCUSDT",
        "--timeframe",
        "1h",
        "--since",
        "2024-01-01",
    )
    assert code == 2 and "BASE/QUOTE" in err and out == ""
