"""A user's strategy that calls sys.exit() ends no command: `strategies list`, a backtest of
ANOTHER strategy, `strategies check`, a backtest and a sweep of that strategy all report it as
an error of its file:line (adversary findings A1, A2), and `bots add` refuses a strategy whose
indicators() raise for the bot's parameters (A14). Through the real CLI (`main`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from oxbot.engine.strategies import loader

from .conftest import Run, sine_candles

EXIT_IN_INIT = """import sys
import numpy as np
from oxbot.engine.strategies import Strategy, StrategyParams

class P(StrategyParams):
    pass

class ExitInit(Strategy):
    name = "exit_init"
    Params = P
    def __init__(self, params=None):
        super().__init__(params)
        sys.exit(3)
    def signals(self, frame):
        return np.zeros(len(frame), dtype=np.int8)
"""

EXIT_IN_SIGNALS = """import sys
import numpy as np
from pydantic import Field
from oxbot.engine.strategies import SMA, Strategy, StrategyParams, cross_signals

class P(StrategyParams):
    fast: int = Field(3, ge=2, le=100)
    slow: int = Field(8, ge=3, le=300)

class ExitSig(Strategy):
    name = "exit_sig"
    Params = P
    def indicators(self):
        return [SMA(self.params.fast), SMA(self.params.slow)]
    def signals(self, frame):
        p = self.params
        if p.fast == 4 or len(frame) > 5 and p.fast == 3:
            sys.exit(7)
        return cross_signals(
            frame[f"sma_{p.fast}"].to_numpy(float), frame[f"sma_{p.slow}"].to_numpy(float)
        )
"""

INDICATORS_RAISE = """from pydantic import Field
from oxbot.engine.strategies import SMA, Strategy, StrategyParams, cross_signals

class P(StrategyParams):
    fast: int = Field(10, ge=2, le=100)

class IndBoomCli(Strategy):
    name = "indboom_cli"
    Params = P
    def indicators(self):
        if self.params.fast == 13:
            raise KeyError("unlucky indicators")
        return [SMA(self.params.fast)]
    def warmup(self):
        return 40
    def signals(self, frame):
        return cross_signals(frame["close"].to_numpy(float), frame["close"].to_numpy(float))
"""


@pytest.fixture
def folder(home: Path) -> Iterator[Path]:
    d = home / "config" / "strategies"
    d.mkdir(parents=True, exist_ok=True)
    yield d
    for f in d.glob("*.py"):  # the registry is the process's: take the test's names out
        f.unlink()
    loader.discover(d, entry_points=False)


@pytest.fixture
def csv(tmp_path: Path) -> Path:
    p = tmp_path / "sine.csv"
    sine_candles(400).to_csv(p, index=False)
    return p


def test_exit_in_init_ends_neither_list_nor_another_strategys_backtest(
    oxbot: Run, folder: Path, csv: Path
) -> None:
    """A1: before, `strategies list` and a backtest of sma_cross printed nothing and exited 3."""
    path = folder / "exit_init.py"
    path.write_text(EXIT_IN_INIT)
    code, out, err = oxbot("strategies", "list")
    assert code == 0
    assert "sma_cross" in out
    assert f"{path}:13: SystemExit: 3" in out + err
    code, out, err = oxbot("backtest", "--strategy", "sma_cross", "--data", str(csv))
    assert code == 0, err
    assert "backtest  sma_cross" in out
    code, out, err = oxbot("backtest", "--strategy", "exit_init", "--data", str(csv))
    assert code != 0 and f"{path}:13: SystemExit: 3" in err


def test_exit_in_signals_is_a_one_line_error_in_check_backtest_and_sweep(
    oxbot: Run, folder: Path, csv: Path
) -> None:
    """A2: before, check/backtest/sweep of the strategy printed nothing and exited 7."""
    path = folder / "exit_sig.py"
    path.write_text(EXIT_IN_SIGNALS)
    code, out, err = oxbot("strategies", "check", str(path))
    assert code == 1
    assert f"{path}:18: SystemExit: 7" in out + err
    code, out, err = oxbot("backtest", "--strategy", "exit_sig", "--data", str(csv))
    assert code == 1
    assert err.strip().endswith(f"{path}:18: SystemExit: 7")
    # a sweep whose set fast=4 exits: counted failed, the others reported (two workers)
    code, out, err = oxbot(
        "backtest",
        "--strategy",
        "exit_sig",
        "--param",
        "slow=12",
        "--data",
        str(csv),
        "--sweep",
        "fast=4:6:1",
        "--jobs",
        "2",
    )
    assert code == 0, err
    assert "1 of 3 combinations failed" in out + err
    assert f"{path}:18: SystemExit: 7" in out + err


def test_bots_add_refuses_a_strategy_whose_indicators_raise_for_its_params(
    oxbot: Run, folder: Path
) -> None:
    """A14: before, `bots add` accepted it ("added ib13"); the engine then logged a traceback."""
    path = folder / "indboom_cli.py"
    path.write_text(INDICATORS_RAISE)
    code, out, err = oxbot(
        "bots", "add", "ib13", "--strategy", "indboom_cli", "--param", "fast=13",
        "--symbols", "BTC/USDT",
    )  # fmt: skip
    assert code != 0
    assert f"{path}:12: KeyError: 'unlucky indicators'" in err
    code, out, err = oxbot("bots", "list")
    assert "ib13" not in out
    code, out, err = oxbot(
        "bots", "add", "ib10", "--strategy", "indboom_cli", "--symbols", "BTC/USDT"
    )  # fmt: skip
    assert code == 0, err
