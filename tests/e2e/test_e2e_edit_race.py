"""Two `oxbot bots edit` of one bot at once (adv14 C1): both say "updated", so both changes
must be in the bot afterwards. Each edit reads the stored config, merges its `--param` values
and sends the whole config (cli/control.py); without the per-database edit lock the later one
overwrote the earlier one's change.

What the tests rely on, and where it was read:
- the engine saves the new config before it answers an UpdateBot (engine/engine.py
  ``_on_UpdateBot``: ``store.save_bot`` then ``CommandDone``), so `bots export` after both
  edits answered shows what the engine runs;
- `bots export` prints the stored configs as JSON (cli/bots.py);
- sma_cross takes ``fast`` below ``slow`` (engine/strategies), both ints.
"""

from __future__ import annotations

import json
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
