"""The issue's acceptance walk for user strategies, through real `oxbot` subprocesses: the
strategy file of the README's "Write your own strategy" section, taken from README.md as it
stands, loads, passes `oxbot strategies check`, backtests, sweeps, and trades headless; a
broken file beside it gives one clear message and harms nothing. (Trading it in the cockpit:
tests/tui/test_tui_user_strategies.py `test_the_readme_strategy_trades_in_the_cockpit`.)

What the tests rely on: the loader reads `$OXBOT_HOME/config/strategies/*.py` (README, the
same section; storage/paths.py `strategies_dir`); the headless log has one line per fill,
`<bot>: buy|sell <qty> <symbol> @ <price>` (FILL_LINE in tests/e2e/conftest.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

DATA = Path("/work/shared/data/ohlcv/binance_BTC-USDT_1h.csv")  # as test_e2e_leaks.py


def readme_example() -> tuple[str, str]:
    """(strategy name, code) of the README's example."""
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme.split("## Write your own strategy", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    name = code.split('name = "', 1)[1].split('"', 1)[0]
    return name, code


@pytest.mark.skipif(not DATA.exists(), reason=f"no market data at {DATA}")
def test_the_readme_strategy_loads_backtests_and_trades_headless(home) -> None:
    name, code = readme_example()
    d = home.root / "config" / "strategies"
    d.mkdir(parents=True)
    (d / f"{name}.py").write_text(code)
    (d / "half_done.py").write_text(code.replace(f'"{name}"', '"half_done"') + "\n    oops(\n")

    r = home.cli("strategies", "list", "--json")
    assert r.returncode == 0, r.stderr
    listed = json.loads(r.stdout)
    assert {s["name"]: s["source"] for s in listed["strategies"]}[name] == str(d / f"{name}.py")
    (failed,) = listed["failed"]  # one clear message, with file:line
    assert failed["error"].startswith(f"{d / 'half_done.py'}:") and "SyntaxError" in failed["error"]
    assert home.cli("strategies", "check", str(d / f"{name}.py")).returncode == 0

    r = home.cli("backtest", "--strategy", name, "--param", "ema=30", "--data", str(DATA), "--json")
    assert r.returncode == 0, r.stderr
    metrics = json.loads(r.stdout)
    assert metrics["trades"] > 0 and metrics["params"]["ema"] == 30

    # a sweep of it on both cores (spawned workers load the user's file), with a held-out column
    r = home.cli(
        "backtest", "--strategy", name, "--data", str(DATA), "--sweep", "ema=20:40:10",
        "--holdout", "30%", "--jobs", "2", "--json",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    sweep = json.loads(r.stdout)
    assert sorted(row["params"]["ema"] for row in sweep["rows"]) == [20, 30, 40]
    assert all(row["held_out"] is not None for row in sweep["rows"])

    # short windows and no RSI filter: it trades within seconds of the sim at 600x
    home.ok(
        "bots",
        "add",
        "readme",
        "--strategy",
        name,
        "--symbols",
        "BTC/USDT",
        "--param",
        "ema=5",
        "--param",
        "rsi=5",
        "--param",
        "rsi_max=99",
        "--start",
    )
    engine = home.spawn("run", "--headless", "--sim-speed", "600", "--status-every", "0.5")
    engine.wait_log(r"^.*?readme: (buy|sell) \S+ \S+ @ ", timeout=60)
    assert "half_done" not in engine.text() and "Traceback" not in engine.text()
