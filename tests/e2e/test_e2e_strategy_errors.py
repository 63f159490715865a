"""A bot whose strategy file does not load, through the real `oxbot` subprocesses: the headless
engine lists it in the error state with the loader's file:line message (`oxbot status`, `oxbot
bots list`), never starts it and runs the other bots; `oxbot bots start` repeats the message;
once the file is fixed the same start works without restarting the engine.

What the tests rely on: the loader reads `$OXBOT_HOME/config/strategies/*.py`
(storage/paths.py `strategies_dir`); `oxbot bots start` goes to the running engine through its
control socket (cli/bots.py `_set_status`) and a refusal exits 2 (cli/errors.py: ConfigError is
a usage error); the headless log has one line per fill, `<bot>: buy|sell ...` (FILL_LINE in
tests/e2e/conftest.py)."""

from __future__ import annotations

import json

MINE = """
from pydantic import Field
from oxbot.engine.strategies import SMA, Strategy, StrategyParams, cross_signals

class P(StrategyParams):
    fast: int = Field(2, ge=2, le=50)
    slow: int = Field(4, ge=3, le=200)

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
NOT_LOADED = r"strategy 'mine' did not load: \S*mine\.py:1: ModuleNotFoundError"


def test_built_in_names_known_without_the_registry_are_the_registry_s() -> None:
    """In a fresh process: other test modules register their own strategies in this one's."""
    import subprocess
    import sys

    code = (
        "from oxbot.app.strategies import BUILT_IN\n"
        "from oxbot.engine.strategies.loader import builtin_names\n"
        "assert builtin_names() == set(BUILT_IN), (builtin_names(), BUILT_IN)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


def test_headless_lists_the_broken_bot_refuses_its_start_and_starts_it_once_fixed(
    home, fast_bots
) -> None:
    d = home.root / "config" / "strategies"
    d.mkdir(parents=True)
    path = d / "mine.py"
    path.write_text(MINE)
    home.add_bot(*fast_bots[0], "--start")
    home.ok("bots", "add", "u-mine", "--strategy", "mine", "--symbols", "BTC/USDT", "--start")
    path.write_text("import nothing_here_at_all\n")  # broken after the bot was stored

    offline = home.ok("bots", "list")  # without an engine: the stored status, and why
    assert f"u-mine: strategy 'mine' did not load: {path}:1: ModuleNotFoundError" in offline

    engine = home.spawn("run", "--headless", "--sim-speed", "600", "--status-every", "0.02")
    engine.wait_log(rf"u-mine: {NOT_LOADED}", timeout=30)
    engine.wait_ready(timeout=30)
    from oxbot.remote.client import request_status

    # the first status request may wait while the engine still loads (a busy machine)
    assert request_status(home.socket, timeout=30)["bots_total"] == 2

    status = json.loads(home.ok("status", "--json"))
    assert status["bots_running"] == 1 and status["bots_total"] == 2
    line = status["bots_in_error"]
    assert line.startswith("u-mine: strategy 'mine' did not load: ") and f"{path}:1" in line
    text = home.ok("status")
    assert "bots in error" in text and f"{path}:1: ModuleNotFoundError" in text

    listed = {b["name"]: b for b in json.loads(home.ok("bots", "list", "--json"))}
    assert listed["u-mine"]["status"] == "error"
    assert f"{path}:1: ModuleNotFoundError" in listed["u-mine"]["error"]
    assert listed["e-sma"]["status"] == "running" and listed["e-sma"]["error"] == ""

    engine.wait_log(r"^.*?e-sma: (buy|sell) \S+ \S+ @ ", timeout=30)  # the other bot trades
    refused = home.cli("bots", "start", "u-mine")
    assert refused.returncode == 2, (refused.stdout, refused.stderr)
    assert f"{path}:1: ModuleNotFoundError" in refused.stderr
    assert "Traceback" not in refused.stderr

    path.write_text(MINE)  # fixed: the same engine starts it
    mark = len(engine.text())
    assert "u-mine started" in home.ok("bots", "start", "u-mine")
    engine.wait_log(r"^.*?u-mine: (buy|sell) \S+ \S+ @ ", timeout=60, after=mark)
    status = json.loads(home.ok("status", "--json"))
    assert status["bots_running"] == 2 and "bots_in_error" not in status
    listed = {b["name"]: b for b in json.loads(home.ok("bots", "list", "--json"))}
    assert (listed["u-mine"]["status"], listed["u-mine"]["error"]) == ("running", "")
    assert "Traceback" not in engine.text()


def test_bots_add_takes_a_user_strategy_s_params_and_names_a_bad_one_s_range(home) -> None:
    d = home.root / "config" / "strategies"
    d.mkdir(parents=True)
    (d / "mine.py").write_text(MINE)
    home.ok("bots", "add", "u1", "--strategy", "mine", "--symbols", "BTC/USDT", "--param", "fast=5")
    (row,) = json.loads(home.ok("bots", "list", "--json"))
    assert (row["strategy"], row["error"]) == ("mine", "")
    exported = json.loads(home.ok("bots", "export"))
    assert exported[0]["params"] == {"fast": 5}
    for value, said in (
        ("fast=99", "fast: Input should be less than or equal to 50 (range 2 to 50)"),
        (
            "slow=x",
            "slow: Input should be a valid integer, unable to parse string as an "
            "integer (range 3 to 200)",
        ),
        ("nope=1", "nope: unknown parameter"),
    ):
        r = home.cli(
            "bots", "add", "u2", "--strategy", "mine", "--symbols", "BTC/USDT", "--param", value
        )
        assert r.returncode == 2 and f"strategy mine: {said}" in r.stderr, (value, r.stderr)
