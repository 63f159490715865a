"""Two `oxbot bots edit` of one bot at once (adv14 C1): both say "updated", so both changes
must be in the bot afterwards. Each edit reads the stored config, merges its `--param` values
and sends the whole config (cli/control.py); without the per-database edit lock the later one
overwrote the earlier one's change. And an edit whose stored config is not what the running
engine has (a change in flight) is refused, nothing sent (compare-and-set).

What the tests rely on, and where it was read:
- the engine saves the new config before it answers an UpdateBot (engine/engine.py
  ``_on_UpdateBot``: ``store.save_bot`` then ``CommandDone``), so `bots export` after both
  edits answered shows what the engine runs;
- `bots export` prints the stored configs as JSON (cli/bots.py);
- the running engine's per-bot config is in the EngineSnapshot a new connection gets first
  (remote/client.py ``request_snapshot``, engine/messages.py ``BotView.config``);
- sma_cross takes ``fast`` below ``slow`` (engine/strategies), both ints.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from typing import Any

OXBOT = [sys.executable, "-m", "oxbot.cli.main"]  # as tests/e2e/conftest.py runs the CLI

ROUNDS = ((3, 12), (4, 9), (2, 14), (5, 10))


def _edit_both_at_once(home: Any, fast: int, slow: int) -> list[subprocess.CompletedProcess[str]]:
    argv = [*OXBOT, "--db", str(home.db), "bots", "edit", "r1"]
    procs = [
        subprocess.Popen(
            [*argv, "--param", p],
            env=home.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        for p in (f"fast={fast}", f"slow={slow}")
    ]
    done = []
    for p in procs:
        out, err = p.communicate(timeout=90)
        done.append(subprocess.CompletedProcess(p.args, p.returncode, out, err))
    return done


def _params(home: Any) -> dict[str, Any]:
    (bot,) = [b for b in json.loads(home.ok("bots", "export")) if b["name"] == "r1"]
    return dict(bot["params"])


def _race(home: Any, said: str) -> None:
    for fast, slow in ROUNDS:
        results = _edit_both_at_once(home, fast, slow)
        for r in results:
            assert r.returncode == 0 and said in r.stdout, (r.stdout, r.stderr)
        assert _params(home) == {"fast": fast, "slow": slow}, [r.stdout for r in results]


def test_two_edits_at_once_through_a_running_engine_both_take(home) -> None:
    home.add_bot("r1", "--strategy", "sma_cross", "--param", "fast=2", "--param", "slow=8",
                 "--symbols", "BTC/USDT", "--start")  # fmt: skip
    engine = home.spawn("run", "--headless", "--sim-speed", "600")
    engine.wait_ready()
    _race(home, "bot r1 updated: ")
    assert engine.status()["bots_total"] == 1  # the engine is still up


def test_two_edits_at_once_without_an_engine_both_take(home) -> None:
    home.add_bot("r1", "--strategy", "sma_cross", "--param", "fast=2", "--param", "slow=8")
    _race(home, "r1 edited: ")


def test_an_edit_is_refused_when_the_running_bot_differs_from_the_stored_one(home) -> None:
    # compare-and-set: the stored params are changed behind the engine's back (what an edit
    # in flight looks like to a reader: stored one way, running the other); the edit must not
    # send a whole config merged into params the engine does not run
    from oxbot.remote.client import request_snapshot

    home.add_bot("r1", "--strategy", "sma_cross", "--param", "fast=2", "--param", "slow=8",
                 "--symbols", "BTC/USDT", "--start")  # fmt: skip
    engine = home.spawn("run", "--headless", "--sim-speed", "600")
    engine.wait_ready()
    con = sqlite3.connect(home.db, timeout=10)
    try:
        with con:
            con.execute(
                "update bots set config = json_set(config, '$.params.slow', 9) where name = 'r1'"
            )
    finally:
        con.close()
    r = home.cli("bots", "edit", "r1", "--param", "fast=3")
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "r1 changed while this edit was prepared (running: fast=2, slow=8" in r.stderr
    (view,) = [v for v in request_snapshot(home.socket).bots if v.name == "r1"]
    assert dict(view.config.params) == {"fast": 2, "slow": 8}
