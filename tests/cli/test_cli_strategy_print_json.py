"""A user's strategy that print()s (debugging) leaves `--json` stdout one JSON document: its
output goes to stderr while oxbot's stdout is a machine's -- a backtest, a sweep with two
worker processes, a bot backtest (adversary finding A5). Through the real CLI (`main`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from oxbot.engine.strategies import loader

from .conftest import Run, sine_candles

PRINTY = """import numpy as np
from pydantic import Field
from oxbot.engine.strategies import SMA, Strategy, StrategyParams, cross_signals

print("debug: imported")

class P(StrategyParams):
    fast: int = Field(3, ge=2, le=100)
    slow: int = Field(8, ge=3, le=300)

class Printy(Strategy):
    name = "printy_fixa"
    Params = P
    def indicators(self):
        return [SMA(self.params.fast), SMA(self.params.slow)]
    def signals(self, frame):
        print("debug: rows", len(frame))
        p = self.params
        return cross_signals(
            frame[f"sma_{p.fast}"].to_numpy(float), frame[f"sma_{p.slow}"].to_numpy(float)
        )
"""


@pytest.fixture
def folder(home: Path) -> Iterator[Path]:
    d = home / "config" / "strategies"
    d.mkdir(parents=True, exist_ok=True)
    (d / "printy_fixa.py").write_text(PRINTY)
    yield d
    for f in d.glob("*.py"):  # the registry is the process's: take the test's names out
        f.unlink()
    loader.discover(d, entry_points=False)


@pytest.fixture
def csv(tmp_path: Path) -> Path:
    p = tmp_path / "BTC-USDT_1h.csv"
    sine_candles(400).to_csv(p, index=False)
    return p


def test_backtest_json_stays_json_when_the_strategy_prints(
    oxbot: Run, folder: Path, csv: Path
) -> None:
    """A5: before, stdout began with "debug: rows 400" and json.loads failed."""
    code, out, err = oxbot("backtest", "--strategy", "printy_fixa", "--data", str(csv), "--json")
    assert code == 0, err
    assert json.loads(out)["trades"] >= 1
    assert "debug: rows" in err


def test_sweep_json_stays_json_with_two_workers(home: Path, folder: Path, csv: Path) -> None:
    """A5 (sweeps): the worker processes' prints too (a real process: their stdout is fd 1)."""
    done = subprocess.run(
        [
            sys.executable, "-m", "oxbot.cli.main", "backtest", "--strategy", "printy_fixa",
            "--data", str(csv), "--sweep", "fast=3,4", "--json", "--jobs", "2",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OXBOT_HOME": str(home)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)["rows"]) == 2
    assert "debug: rows" in done.stderr


def test_bot_backtest_json_stays_json(oxbot: Run, folder: Path, csv: Path) -> None:
    """A5 (bot backtests)."""
    code, out, err = oxbot(
        "bots", "add", "pb", "--strategy", "printy_fixa", "--symbols", "BTC/USDT",
        "--timeframe", "1h",
    )  # fmt: skip
    assert code == 0, err
    code, out, err = oxbot("backtest", "--bot", "pb", "--csv", f"BTC/USDT={csv}", "--json")
    assert code == 0, err
    json.loads(out)


def test_strategies_list_json_stays_json(oxbot: Run, folder: Path) -> None:
    """A5 (a print at import, `strategies list --json`)."""
    code, out, err = oxbot("strategies", "list", "--json")
    assert code == 0
    assert any(r["name"] == "printy_fixa" for r in json.loads(out)["strategies"])
