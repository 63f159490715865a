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
