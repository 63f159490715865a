"""A user strategy's broken output or exception in a backtest, through the real `oxbot`
subprocess: signals of the wrong length or values are refused with the file:line of its
`signals` (engine/strategies/checks.py `checked_signals`), an exception in its code gives one
line naming the line of its file that raised, exit 1, no traceback (cli/errors.py: an
OxbotError that is no UsageError exits 1).

What the tests rely on: the loader reads `$OXBOT_HOME/config/strategies/*.py` (storage/paths.py
`strategies_dir`); `oxbot backtest --data FILE` reads a CSV with a header
`timestamp,open,high,low,close,volume` (engine/market/csvdata.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

HEAD = """import numpy as np
from oxbot.engine.strategies import SMA, Strategy

class S(Strategy):
    name = "{name}"
    def indicators(self):
        return [SMA(10)]
    def signals(self, frame):
        c = frame["close"].to_numpy(float)
        side = np.sign(c - frame["sma_10"].to_numpy(float))
"""
BODIES = {  # what signals returns -> what the refusal says
    "g_short": ("np.diff(side, prepend=0)[1:].clip(-1, 1)", "returned 799 values for 800 rows"),
    "g_nan": ("np.diff(side, prepend=0).clip(-1, 1)", "returned NaN at row 0"),
    "g_255": ("np.where(side > 0, 257, 0)", "returned 257 at row"),
    "g_frac": ("np.where(side > 0, 0.9, 0.0)", "returned 0.9 at row"),
    "g_str": ("np.where(side > 0, 'buy', 'hold')", "returned <U4 values"),
}


def candles(path: Path, n: int = 800) -> Path:
    rng = np.random.default_rng(3)
    c = 100 * np.exp(np.cumsum(rng.normal(0, 0.012, n)))
    o = np.concatenate(([c[0]], c[:-1]))
    lines = ["timestamp,open,high,low,close,volume"]
    for i in range(n):
        hi, lo = max(o[i], c[i]) * 1.003, min(o[i], c[i]) * 0.997
        lines.append(
            f"{1_704_067_200_000 + i * 3_600_000},{o[i]:.6f},{hi:.6f},{lo:.6f},{c[i]:.6f},5"
        )
    path.write_text("\n".join(lines) + "\n")
    return path


def folder(home) -> Path:
    d = home.root / "config" / "strategies"
    d.mkdir(parents=True, exist_ok=True)
    return d


@pytest.mark.parametrize("name", sorted(BODIES))
def test_backtest_refuses_garbage_signals_naming_the_signals_line(home, name: str) -> None:
    body, said = BODIES[name]
    path = folder(home) / f"{name}.py"
    path.write_text(HEAD.format(name=name) + f"        return {body}\n")
    data = candles(home.root / "c.csv")
    for risk in ([], ["--no-risk"]):
        r = home.cli("backtest", "--strategy", name, "--data", str(data), *risk)
        assert r.returncode == 1, r.stdout + r.stderr
        assert f"oxbot: {path}:8: signals {said}" in r.stderr, r.stderr
        assert "Traceback" not in r.stderr and "unexpected" not in r.stderr
    home.ok("bots", "add", "b", "--strategy", name, "--symbols", "BTC/USDT", "--timeframe", "1h")
    r = home.cli("backtest", "--bot", "b", "--csv", f"BTC/USDT={data}")
    assert r.returncode == 1 and f"{path}:8: signals {said}" in r.stderr, r.stderr


def test_an_exception_in_the_strategy_names_its_line_and_exits_1(home) -> None:
    path = folder(home) / "boom.py"
    path.write_text(
        HEAD.format(name="boom") + "        if len(c) > 100:\n"
        "            raise ValueError('too long')\n"
        "        return side.astype(int) * 0\n"
    )
    r = home.cli("backtest", "--strategy", "boom", "--data", str(candles(home.root / "c.csv")))
    assert r.returncode == 1
    assert r.stderr.strip() == f"oxbot: {path}:12: ValueError: too long", r.stderr


FLAKY = """import numpy as np
from pydantic import Field
from oxbot.engine.strategies import SMA, Strategy, StrategyParams, cross_signals

class P(StrategyParams):
    n: int = Field(10, ge=2, le=50)

class S(Strategy):
    name = "flaky"
    Params = P
    def indicators(self):
        return [SMA(self.params.n), SMA(60)]
    def signals(self, frame):
        if self.params.n == 15:
            raise KeyError("sma_99")
        if self.params.n == 20:
            return np.full(len(frame), np.nan)
        return cross_signals(frame[f"sma_{self.params.n}"].to_numpy(float),
                             frame["sma_60"].to_numpy(float))
"""


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_sweep_counts_the_sets_whose_run_raised_as_failed_and_goes_on(home, jobs) -> None:
    path = folder(home) / "flaky.py"
    path.write_text(FLAKY)
    data = candles(home.root / "c.csv", 1200)
    r = home.cli(
        "backtest", "--strategy", "flaky", "--data", str(data), "--jobs", jobs,
        "--sweep", "n=5:25:5", timeout=180,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "2 of 5 combinations failed: " in r.stdout, r.stdout
    assert f"{path}:15: KeyError: 'sma_99'" in r.stdout
    assert f"{path}:13: signals returned NaN" in r.stdout
    assert "Traceback" not in r.stderr
    r = home.cli(
        "backtest", "--strategy", "flaky", "--data", str(data), "--jobs", jobs,
        "--sweep", "n=5:25:5", "--walk-forward", "3", timeout=180,
    )  # fmt: skip
    assert r.returncode == 0 and "2 of 5 combinations failed: " in r.stdout, r.stderr
    r = home.cli(
        "backtest", "--strategy", "flaky", "--data", str(data), "--jobs", jobs,
        "--sweep", "n=15:20:5", timeout=180,
    )  # fmt: skip
    assert r.returncode == 1 and "oxbot: 2 of 2 combinations failed: " in r.stderr, r.stderr


LOOK_AHEAD = {  # a strategy body -> what `oxbot strategies check` says
    "la_rare": (
        "    def signals(self, frame):\n"
        "        c = frame['close']\n"
        "        out = np.zeros(len(frame), dtype=np.int8)\n"
        "        out[(c.shift(-1) > c * 1.02).to_numpy()] = 1\n"
        "        return out\n",
        "look-ahead on the ",
    ),
    "la_len": (
        "    def signals(self, frame):\n"
        "        c = frame['close'].to_numpy(float)\n"
        "        out = np.zeros(len(c), dtype=np.int8)\n"
        "        if len(c) > 1000:\n"
        "            out[np.append(c[1:], c[-1]) > c * 1.005] = 1\n"
        "        return out\n",
        "look-ahead on the cycles candles",
    ),
    "la_disagree": (
        "    def signals(self, frame):\n"
        "        return np.where(frame['close'].diff() > 0, 1, 0).astype(np.int8)\n"
        "    def signal(self, view):\n"
        "        return 0\n",
        "signal(view) gives 0 at row ",
    ),
    "la_cummax": (
        "    def signals(self, frame):\n"
        "        c = frame['close']\n"
        "        return np.where(c >= c.cummax(), 1, 0).astype(np.int8)\n",
        "when only the last 300 rows are given",
    ),
}


@pytest.mark.parametrize("name", sorted(LOOK_AHEAD))
def test_check_finds_rare_long_live_and_window_look_ahead(home, name: str) -> None:
    body, said = LOOK_AHEAD[name]
    path = folder(home) / f"{name}.py"
    path.write_text(
        "import numpy as np\nfrom oxbot.engine.strategies import Strategy\n\n"
        f"class S(Strategy):\n    name = {name!r}\n{body}"
    )
    r = home.cli("strategies", "check", str(path))
    assert r.returncode == 1, r.stdout + r.stderr
    assert said in r.stdout + r.stderr, r.stdout + r.stderr


def test_check_passes_the_built_ins_quickly() -> None:
    import time

    for name in ("sma_cross", "rsi_reversion", "ema_atr_trend", "bb_rsi_reversion"):
        started = time.perf_counter()
        from oxbot.engine.strategies import REGISTRY, check_strategy

        report = check_strategy(REGISTRY[name])
        assert report.ok, (name, report.errors)
        assert time.perf_counter() - started < 15  # ~1.5 s alone; the machine is shared


def test_an_entry_point_raising_system_exit_only_fails_itself(home) -> None:
    import os

    site = home.root / "site"
    (site / "quitter").mkdir(parents=True)
    (site / "quitter" / "__init__.py").write_text("raise SystemExit('bye')\n")
    info = site / "quitter-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: quitter\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[oxbot.strategies]\nquit = quitter:Thing\n")
    env = {**home.env, "PYTHONPATH": str(site) + os.pathsep + home.env.get("PYTHONPATH", "")}
    r = home.cli("strategies", "list", env=env)
    assert r.returncode == 0, r.stderr
    assert "sma_cross" in r.stdout
    assert "did not load: package quitter (quitter:Thing): SystemExit: bye" in r.stderr


def test_new_refuses_a_test_name_and_backtest_says_why_such_a_file_is_skipped(home) -> None:
    r = home.cli("strategies", "new", "test_x")
    assert r.returncode == 2 and "files named test_*.py are tests" in r.stderr, r.stderr
    assert not (home.root / "config" / "strategies" / "test_x.py").exists()
    path = folder(home) / "test_y.py"
    path.write_text(HEAD.format(name="test_y") + "        return side * 0\n")
    r = home.cli("backtest", "--strategy", "test_y", "--data", str(candles(home.root / "c.csv")))
    assert r.returncode == 2, r.stderr
    assert f"{path} is not loaded: files named test_*.py or _*.py are tests" in r.stderr


def test_a_file_that_never_returns_does_not_hang_built_in_commands(home) -> None:
    (folder(home) / "loop.py").write_text("while True:\n    pass\n")
    data = str(candles(home.root / "c.csv"))
    r = home.cli("backtest", "--strategy", "sma_cross", "--data", data, timeout=60)
    assert r.returncode == 0, r.stderr
    home.ok("bots", "add", "b", "--strategy", "sma_cross", "--symbols", "BTC/USDT")
    assert "b" in home.ok("bots", "list")


PICKY = """import numpy as np
from pydantic import Field, field_validator
from oxbot.engine.strategies import Strategy, StrategyParams

class P(StrategyParams):
    n: int = Field(10, ge=2, le=50)
    @field_validator("n")
    @classmethod
    def odd(cls, v):
        return v // (v - 15)

class S(Strategy):
    name = "picky"
    Params = P
    def signals(self, frame):
        return np.zeros(len(frame), dtype=np.int8)
"""


def test_an_exception_in_a_params_validator_names_its_line(home) -> None:
    path = folder(home) / "picky.py"
    path.write_text(PICKY)
    data = str(candles(home.root / "c.csv"))
    r = home.cli("backtest", "--strategy", "picky", "--data", data, "--param", "n=15")
    assert r.returncode == 1, r.stderr
    assert (
        r.stderr.strip()
        == f"oxbot: {path}:10: ZeroDivisionError: integer division or modulo by zero"
    )
    r = home.cli("backtest", "--strategy", "picky", "--data", data, "--sweep", "n=5:25:5")
    assert r.returncode == 0, r.stderr
    assert f"1 of 5 combinations skipped: {path}:10: ZeroDivisionError" in r.stdout, r.stdout
