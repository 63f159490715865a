"""User strategies through the real `oxbot` subprocess: files in <config>/strategies load, list,
check, backtest and trade headless; a broken file (syntax error, exception at import, a built-in's
name, bad Params, look-ahead) gives one message with file:line and harms nothing else.

What the tests rely on: the loader reads `$OXBOT_HOME/config/strategies/*.py` (storage/paths.py
`strategies_dir`); `oxbot strategies check` exits 0/1 (cli/strategies.py); the headless engine
logs an EngineError for a stored bot it cannot build (engine/engine.py `_load`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

DATA = Path("/work/shared/data/ohlcv/binance_BTC-USDT_1h_2023.csv")
GOOD = """
import numpy as np
from pydantic import Field
from oxbot.engine.strategies import SMA, Strategy, StrategyParams, cross_signals

class P(StrategyParams):
    fast: int = Field(3, ge=2, le=50, description="fast SMA")
    slow: int = Field(8, ge=3, le=200)

class Mine(Strategy):
    name = "mine"
    Params = P
    def indicators(self):
        return [SMA(self.params.fast), SMA(self.params.slow)]
    def signals(self, frame):
        p = self.params
        return cross_signals(frame[f"sma_{p.fast}"].to_numpy(float),
                             frame[f"sma_{p.slow}"].to_numpy(float))
"""
BROKEN = {
    "syntax_bad": ("x = 1\ndef oops(:\n", r"syntax_bad.py:2: SyntaxError"),
    "raises_bad": (
        "import os\n\nraise RuntimeError('boom at import')\n",
        "raises_bad.py:3: RuntimeError: boom at import",
    ),
    "clash_bad": (GOOD.replace('"mine"', '"sma_cross"'), "is a built-in strategy"),
    "params_bad": (
        GOOD.replace('"mine"', '"params_bad"').replace("Field(3, ge=2", "Field(1, ge=2"),
        "params_bad.py:10: params_bad.Params defaults do not validate: fast",
    ),
    "empty_bad": ("X = 1\n", "empty_bad.py: no Strategy subclass"),
}
LOOKAHEAD = GOOD.replace('"mine"', '"peeks"').replace(
    "    def signals(self, frame):\n",
    "    def signals(self, frame):\n"
    "        nxt = frame['close'].shift(-1).to_numpy(float)\n"
    "        return np.where(nxt > frame['close'].to_numpy(float), 1, -1).astype(np.int8)\n",
)


def strategies(home) -> Path:
    d = home.root / "config" / "strategies"
    d.mkdir(parents=True, exist_ok=True)
    return d


def test_list_check_new_and_broken_files(home) -> None:
    d = strategies(home)
    (d / "mine.py").write_text(GOOD)
    for stem, (text, _) in BROKEN.items():
        (d / f"{stem}.py").write_text(text)

    r = home.cli("strategies", "list", "--json")
    assert r.returncode == 0, r.stderr
    listed = json.loads(r.stdout)
    names = {s["name"]: s for s in listed["strategies"]}
    assert names["mine"]["source"] == str(d / "mine.py")
    assert names["sma_cross"]["source"] == "built-in"  # the clash did not replace it
    fast = next(p for p in names["mine"]["params"] if p["name"] == "fast")
    assert (fast["default"], fast["ge"], fast["le"]) == (3, 2, 50)
    errors = "\n".join(f["error"] for f in listed["failed"])
    for _, (_, expected) in BROKEN.items():
        assert expected in errors

    assert home.cli("strategies", "check", str(d / "mine.py")).returncode == 0
    for stem, (_, expected) in BROKEN.items():
        r = home.cli("strategies", "check", str(d / f"{stem}.py"))
        assert r.returncode == 1 and "FAIL" in r.stdout, (stem, r.stdout, r.stderr)
        assert expected in r.stdout, (stem, r.stdout)

    (d / "peeks.py").write_text(LOOKAHEAD)
    r = home.cli("strategies", "check", str(d / "peeks.py"))
    assert r.returncode == 1 and "look-ahead" in r.stdout, r.stdout

    r = home.cli("strategies", "new", "my_trend")
    assert r.returncode == 0, r.stderr
    assert home.cli("strategies", "check", str(d / "my_trend.py")).returncode == 0
    again = home.cli("strategies", "new", "my_trend")
    assert again.returncode == 2 and "never overwrites" in again.stderr
    assert home.cli("strategies", "new", "sma_cross").returncode == 2
    import subprocess
    import sys

    t = subprocess.run(
        [sys.executable, str(d / "test_my_trend.py")], capture_output=True, text=True, timeout=120
    )
    assert t.returncode == 0 and "ok" in t.stdout, t.stderr


def test_bots_add_refuses_a_broken_strategy_with_its_file_line(home) -> None:
    d = strategies(home)
    (d / "syntax_bad.py").write_text(BROKEN["syntax_bad"][0])
    r = home.cli("bots", "add", "b1", "--strategy", "syntax_bad", "--symbols", "BTC/USDT")
    assert r.returncode == 2  # as for any unknown strategy name (a usage error)
    assert "strategy 'syntax_bad' did not load" in r.stderr and "syntax_bad.py:2" in r.stderr
    (d / "mine.py").write_text(GOOD)
    home.ok("bots", "add", "b2", "--strategy", "mine", "--symbols", "BTC/USDT", "--param", "fast=4")
    r = home.cli(
        "bots", "add", "b3", "--strategy", "mine", "--symbols", "BTC/USDT", "--param", "fast=99"
    )
    assert r.returncode != 0 and "fast" in r.stderr, r.stderr


@pytest.mark.skipif(not DATA.exists(), reason=f"no market data at {DATA}")
@pytest.mark.parametrize("name", ["mine", "ema_atr_trend", "bb_rsi_reversion"])
def test_backtest_user_and_example_strategies(home, name: str) -> None:
    (strategies(home) / "mine.py").write_text(GOOD)
    r = home.cli("backtest", "--strategy", name, "--data", str(DATA), "--no-risk", "--json")
    assert r.returncode == 0, r.stderr
    assert "trades" in r.stdout


def test_headless_broken_strategy_stops_one_bot_only(home, fast_bots) -> None:
    d = strategies(home)
    (d / "mine.py").write_text(GOOD)
    home.add_bot(*fast_bots[0], "--start")
    home.ok("bots", "add", "u-mine", "--strategy", "mine", "--symbols", "BTC/USDT", "--start")
    (d / "mine.py").write_text("import nothing_here_at_all\n")  # broken after the bot was stored
    engine = home.spawn("run", "--headless", "--sim-speed", "600", "--status-every", "0.02")
    engine.wait_log(
        r"u-mine.*strategy 'mine' did not load: .*mine\.py:1: ModuleNotFoundError", timeout=30
    )
    engine.wait_log(r"^.*?e-\w+: (buy|sell) \S+ \S+ @ ", timeout=30)
    assert "u-mine: buy" not in engine.text()
    assert "Traceback" not in engine.text()


def test_readme_example_is_the_template() -> None:
    from oxbot.cli.strategy_template import STRATEGY, render

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme.split("## Write your own strategy", 1)[1]
    example = section.split("```python\n", 1)[1].split("```", 1)[0]
    assert example == render(STRATEGY, "my_trend").rstrip() + "\n"
