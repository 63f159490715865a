"""How the strategies folder's files are read, through the real CLI (`main`): a name two files
define is refused naming both (adversary finding A6), a file name that is not UTF-8 does not
crash `strategies list` (A9), and a strategy imports a ``_helpers.py`` of the folder (A11)."""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from oxbot.engine.strategies import loader

from .conftest import Run, sine_candles

TEMPLATE = """import numpy as np
from pydantic import Field
from oxbot.engine.strategies import SMA, Strategy, StrategyParams, cross_signals

class P(StrategyParams):
    fast: int = Field({fast}, ge=2, le=100)

class Twin(Strategy):
    name = "{name}"
    Params = P
    def indicators(self):
        return [SMA(self.params.fast), SMA(20)]
    def signals(self, frame):
        return cross_signals(
            frame[f"sma_{{self.params.fast}}"].to_numpy(float), frame["sma_20"].to_numpy(float)
        )
"""

USES_HELPER = """from oxbot.engine.strategies import SMA, Strategy, StrategyParams, cross_signals
from _fixa_helpers import LEN

class UseHelp(Strategy):
    name = "usehelp_fixa"
    def indicators(self):
        return [SMA(LEN), SMA(LEN * 3)]
    def signals(self, frame):
        return cross_signals(
            frame[f"sma_{LEN}"].to_numpy(float), frame[f"sma_{LEN * 3}"].to_numpy(float)
        )
"""


@pytest.fixture
def folder(home: Path) -> Iterator[Path]:
    d = home / "config" / "strategies"
    d.mkdir(parents=True, exist_ok=True)
    yield d
    for f in d.iterdir():  # the registry is the process's: take the test's names out
        f.unlink()
    loader.discover(d, entry_points=False)


@pytest.fixture
def csv(tmp_path: Path) -> Path:
    p = tmp_path / "sine.csv"
    sine_candles(300).to_csv(p, index=False)
    return p


def test_a_backup_copy_never_silently_takes_the_name(oxbot: Run, folder: Path, csv: Path) -> None:
    """A6: before, good1.bak.py (sorting first) won the name: the backtest ran the old code
    with no warning and `bots add` saved a bot of it."""
    (folder / "twin_fixa.py").write_text(TEMPLATE.format(fast=5, name="twin_fixa"))
    (folder / "twin_fixa.bak.py").write_text(TEMPLATE.format(fast=8, name="twin_fixa"))
    code, out, err = oxbot("backtest", "--strategy", "twin_fixa", "--data", str(csv))
    assert code != 0, out
    assert str(folder / "twin_fixa.py") in err and str(folder / "twin_fixa.bak.py") in err
    assert "neither is used" in err
    code, out, err = oxbot(
        "bots", "add", "tw", "--strategy", "twin_fixa", "--symbols", "BTC/USDT"
    )  # fmt: skip
    assert code != 0 and "neither is used" in err
    code, out, err = oxbot("strategies", "list")
    assert code == 0
    assert "twin_fixa  (" not in out
    assert "neither is used" in err
    # the copy moved away: the user's file is the strategy, without a restart
    (folder / "twin_fixa.bak.py").unlink()
    code, out, err = oxbot("backtest", "--strategy", "twin_fixa", "--data", str(csv))
    assert code == 0, err
    assert "twin_fixa fast=5" in out
    # and the other way round: the user's file removed, the remaining copy is used
    (folder / "twin_fixa.bak.py").write_text(TEMPLATE.format(fast=8, name="twin_fixa"))
    assert oxbot("backtest", "--strategy", "twin_fixa", "--data", str(csv))[0] != 0
    (folder / "twin_fixa.py").unlink()
    code, out, err = oxbot("backtest", "--strategy", "twin_fixa", "--data", str(csv))
    assert code == 0, err
    assert "twin_fixa fast=8" in out


def test_a_file_name_that_is_not_utf8_is_listed_escaped(
    oxbot: Run, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A9: before, `strategies list` under a strict UTF-8 stdout (any desktop UTF-8 locale)
    ended in "unexpected error ... surrogates not allowed"."""
    name = os.fsdecode(b"caf\xe9_fixa.py")
    (folder / name).write_text(TEMPLATE.format(fast=5, name="cafe_fixa"))
    strict = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict")
    monkeypatch.setattr(sys, "stdout", strict)
    from oxbot.cli import main as cli

    code = cli.main(["strategies", "list"])
    strict.flush()
    out = strict.buffer.getvalue().decode("utf-8")  # type: ignore[attr-defined]
    assert code == 0
    assert "cafe_fixa  (" in out and "caf\\udce9_fixa.py" in out


def test_a_strategy_imports_a_helper_file_of_its_folder(
    oxbot: Run, folder: Path, csv: Path
) -> None:
    """A11: before, `from _helpers import LEN` failed (ModuleNotFoundError) although the
    README calls `_*.py` files helpers."""
    (folder / "_fixa_helpers.py").write_text("LEN = 4\n")
    (folder / "usehelp_fixa.py").write_text(USES_HELPER)
    code, out, err = oxbot("strategies", "list")
    assert code == 0
    assert "usehelp_fixa  (" in out, err
    code, out, err = oxbot("backtest", "--strategy", "usehelp_fixa", "--data", str(csv))
    assert code == 0, err
    assert str(folder) not in sys.path  # only while the strategy files load
