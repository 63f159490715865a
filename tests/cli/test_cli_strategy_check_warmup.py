"""`oxbot strategies check` judges a strategy's warm-up as live trading will (adversary finding
A17), and sweeping an LLM bot says what is wrong (A18). Through the real CLI (`main`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from oxbot.engine.strategies import loader

from .conftest import Run, sine_candles

WARM = """import numpy as np
from pydantic import Field
from oxbot.engine.strategies import SMA, Strategy, StrategyParams, cross_signals

class P(StrategyParams):
    fast: int = Field(5, ge=2, le=100)

class BigWarm(Strategy):
    name = "{name}"
    Params = P
    def indicators(self):
        return [SMA(self.params.fast), SMA(20)]
    def warmup(self):
        return {warm}
    def signals(self, frame):
        out = cross_signals(
            frame[f"sma_{{self.params.fast}}"].to_numpy(float), frame["sma_20"].to_numpy(float)
        )
        {quiet}
        return out
"""


@pytest.fixture
def folder(home: Path) -> Iterator[Path]:
    d = home / "config" / "strategies"
    d.mkdir(parents=True, exist_ok=True)
    yield d
    for f in d.glob("*.py"):  # the registry is the process's: take the test's names out
        f.unlink()
    loader.discover(d, entry_points=False)


def write(folder: Path, name: str, warm: int, quiet: bool = False) -> Path:
    path = folder / f"{name}.py"
    mute = f"out[: {warm} - 1] = 0" if quiet else "pass"
    path.write_text(WARM.format(name=name, warm=warm, quiet=mute))
    return path


def test_check_fails_a_warmup_no_live_bot_can_have(oxbot: Run, folder: Path) -> None:
    """A17: before, a warm-up of 3000 (live keeps 2500) was "ok"."""
    path = write(folder, "bigw_fixa", 3000)
    code, out, err = oxbot("strategies", "check", str(path))
    assert code == 1
    assert "warmup() is 3000 bars: live market data keeps at most 2500" in out


def test_check_warns_of_signals_before_the_declared_warmup(oxbot: Run, folder: Path) -> None:
    """A17: before, a warm-up of 1800 checked no cut at all (the series are 600-1500 rows) and
    said "ok" silently although signals came from row ~20, where a live bot never acts."""
    path = write(folder, "earlyw_fixa", 1800)
    code, out, err = oxbot("strategies", "check", str(path))
    assert "warning: signals gives" in out
    assert "before its warm-up of 1800 bars ends" in out
    # silent during its warm-up: checked on a series long enough, and ok
    path = write(folder, "quietw_fixa", 1800, quiet=True)
    code, out, err = oxbot("strategies", "check", str(path))
    assert code == 0, out
    assert "ok   quietw_fixa" in out
    assert "warning" not in out
    assert "within the warm-up of 1800: not checked" in out


def test_sweeping_an_llm_bot_says_the_sweep_is_the_problem(
    oxbot: Run, home: Path, tmp_path: Path
) -> None:
    """A18: before, the refusal told the user to use `--bot NAME`, which they had."""
    csv = tmp_path / "BTC-USDT_1h.csv"
    sine_candles(300).to_csv(csv, index=False)
    code, out, err = oxbot(
        "bots", "add", "lb", "--strategy", "llm", "--symbols", "BTC/USDT", "--timeframe", "1h"
    )  # fmt: skip
    assert code == 0, err
    code, out, err = oxbot(
        "backtest", "--bot", "lb", "--csv", f"BTC/USDT={csv}",
        "--sweep", "temperature=0.1,0.2", "--jobs", "1",
    )  # fmt: skip
    assert code == 2
    assert "bot lb uses the llm strategy, which cannot be swept" in err
    assert "drop --sweep" in err
