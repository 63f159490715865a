"""A bot on the built-in sim market can be replayed and backtested on the candles it traded: the
engine keeps the sim's candles beside the database (app/candle_record.py), since nothing else
can make them again. Found by an adversarial tester: `oxbot replay` of any sim bot (the default
market, the demo bots) said "the sim market has no history to download".

Through the real path: `oxbot bots add` (sim, 1m), a real `oxbot run --headless --sim-speed max`
process trading for a while, stopped (SIGTERM) and started again (the sim then continues on a
new series from its last close), stopped; then `oxbot replay` reproduces the stored fills and
`oxbot backtest --bot` finds the candles without --csv."""

from __future__ import annotations

import json

import pytest
from waiting import wait_until

pytestmark = pytest.mark.slow

BOT = (
    "s1",
    "--strategy",
    "sma_cross",
    "--param",
    "fast=2",
    "--param",
    "slow=5",
    "--symbols",
    "BTC/USDT",
    "--timeframe",
    "1m",
    "--stop-loss-pct",
    "0.3",
    "--take-profit-pct",
    "0.4",
)


def _fills(home) -> int:
    return home.query("SELECT COUNT(*) FROM fills")[0][0]


def test_a_sim_bot_replays_on_the_candles_it_traded(home) -> None:
    home.add_bot(*BOT, "--start")
    for _ in range(2):  # two engine runs: the candles of both are kept
        before = _fills(home)
        engine = home.spawn("run", "--headless", "--sim-speed", "max")
        engine.wait_ready()
        wait_until(lambda n=before: _fills(home) > n + 4, 60, "some trading in this run")
        code, _ = engine.terminate()
        assert code == 0
    kept = home.root / "candles" / "sim_BTC-USDT_1m.csv"
    assert kept.exists(), list(home.root.iterdir())
    done = home.cli("replay", "s1", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["candles_match"] is True
    assert report["different"] == 0
    assert report["stored"]["fills"] == report["replayed"]["fills"] == _fills(home)
    backtest = home.cli("backtest", "--bot", "s1", "--json")
    assert backtest.returncode == 0, backtest.stderr
    assert "Traceback" not in backtest.stderr
