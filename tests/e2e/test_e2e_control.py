"""Headless control from the shell (issue 14) against a real `oxbot run --headless` subprocess
on the sim market: every write command changes what `oxbot status --json` and `oxbot bots list
--json` then report; the read commands' JSON parses and matches the database; without an
engine, pause/resume/edit change the stored bot and flatten/PANIC refuse.

What the tests rely on, and where it was read:
- a paused bot makes no decision, its stop-loss and take-profit are still watched
  (engine/engine.py ``_on_PauseBot``): with SL/TP 20 % away its position stays open;
- FlattenBot/PanicAll close positions with fills whose reason is "flatten" (engine/models.py
  ``OrderReason.FLATTEN``), published before the command's CommandDone (``_dispatch``);
- a paper fill is never partial, and an sma_cross exit sells the whole position, so each
  closed round trip of these bots ends with exactly one sell (engine/paper.py);
- the engine resumes stored running and paused bots at start (``Engine._load``).
"""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from typing import Any

from waiting import wait_until

from oxbot.remote.client import request_snapshot

WIDE = (
    "--strategy",
    "sma_cross",
    "--param",
    "fast=2",
    "--param",
    "slow=5",
    "--symbols",
    "BTC/USDT",
    "--stop-loss-pct",
    "20",
    "--take-profit-pct",
    "20",
)
NO_ENGINE = "no engine running: stored, takes effect at the next start"


def _json(home: Any, *args: str) -> Any:
    return json.loads(home.ok(*args))


def _bots(home: Any, *args: str) -> dict[str, dict[str, Any]]:
    return {b["name"]: b for b in _json(home, *args)}


def test_control_commands_through_a_running_engine(home, fast_bots) -> None:
    home.add_bot(*fast_bots[0], "--start")
    home.add_bot("e-wide", *WIDE, "--start")
    home.add_bot("idle", "--strategy", "sma_cross", "--param", "fast=2", "--param", "slow=5")
    engine = home.spawn("run", "--headless", "--sim-speed", "600", "--status-every", "0.05")
    engine.wait_ready()
    engine.wait_log(r"^.*?e-sma: (buy|sell) ", timeout=30)

    # status and bots list: the engine's per-bot figures, with the same status
    status = _json(home, "status", "--json")
    figures = {b["name"]: b for b in status["bots"]}
    assert {n: b["status"] for n, b in figures.items()} == {
        "e-sma": "running",
        "e-wide": "running",
        "idle": "stopped",
    }
    for b in figures.values():
        assert Decimal(b["equity"]) > 0 and isinstance(b["open_positions"], int)
        assert b["last_error"] == ""
    assert figures["idle"]["equity"] == "10000.00" and figures["idle"]["pnl"] == "0.00"
    listed = _bots(home, "bots", "list", "--json")
    assert all(b["engine"] for b in listed.values())
    assert listed["e-sma"]["status"] == "running" and "stored_status" not in listed["e-sma"]

    # pause: the engine says so and both reads show it
    r = home.cli("bots", "pause", "e-sma")
    assert r.returncode == 0 and "e-sma paused" in r.stdout, r.stderr
    assert _bots(home, "bots", "list", "--json")["e-sma"]["status"] == "paused"
    figures = {b["name"]: b for b in _json(home, "status", "--json")["bots"]}
    assert figures["e-sma"]["status"] == "paused"
    r = home.cli("bots", "pause", "idle")  # the engine's refusal, as a usage error
    assert r.returncode == 2 and "idle is stopped; only a running bot can pause" in r.stderr
    r = home.cli("bots", "resume", "e-sma")
    assert r.returncode == 0 and "e-sma resumed" in r.stdout, r.stderr
    assert _bots(home, "bots", "list", "--json")["e-sma"]["status"] == "running"

    # edit: validated against the strategy's schema, taken up by the running bot
    r = home.cli("bots", "edit", "e-sma", "--param", "fast=99")
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "fast (99) must be shorter than slow (5)" in r.stderr
    r = home.cli("bots", "edit", "e-sma", "--param", "fast=3")
    assert r.returncode == 0 and "bot e-sma updated: fast=3" in r.stdout, r.stderr
    exported = {b["name"]: b for b in _json(home, "bots", "export")}
    assert exported["e-sma"]["params"] == {"fast": 3, "slow": 5}
    assert _bots(home, "bots", "list", "--json")["e-sma"]["status"] == "running"
    # the same value again changes nothing: nothing is sent, so the bot is not restarted
    # (the engine's answer would have said "bot e-sma updated")
    r = home.cli("bots", "edit", "e-sma", "--param", "fast=3")
    assert (r.returncode, r.stdout) == (0, "e-sma: no change\n"), r.stderr

    # flatten: wait for e-wide to hold a position, pause it so it stays open, then close it
    def holding() -> bool:
        snap = request_snapshot(home.socket)
        return any(p.bot == "e-wide" for p in snap.positions)

    held: list[Any] = []
    for _ in range(5):  # its own exit may beat the pause: then resume and try again
        wait_until(holding, 60, "e-wide to open a position", every=0.2)
        home.ok("bots", "pause", "e-wide")
        held = _json(home, "positions", "e-wide", "--json")
        if held:
            break
        home.ok("bots", "resume", "e-wide")
    assert len(held) == 1 and held[0]["symbol"] == "BTC/USDT"
    assert held[0]["mark"] is not None and held[0]["unrealised"] is not None  # live marks
    assert _bots(home, "bots", "list", "--json")["e-wide"]["open_positions"] == 1
    r = home.cli("bots", "flatten", "e-wide")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("e-wide: 1 position(s) closed"), r.stdout
    assert f"e-wide: sell {held[0]['qty']} BTC/USDT @ " in r.stdout and "(flatten)" in r.stdout
    assert _json(home, "positions", "e-wide", "--json") == []
    assert _bots(home, "bots", "list", "--json")["e-wide"]["open_positions"] == 0
    r = home.cli("bots", "flatten", "e-wide")
    assert (r.returncode, r.stdout) == (0, "e-wide: nothing open\n"), r.stderr
    r = home.cli("bots", "flatten", "ghost")
    assert r.returncode == 2 and "no bot named 'ghost'" in r.stderr

    # PANIC: refused without --yes; with it, every bot stops and nothing stays open
    r = home.cli("panic")
    assert r.returncode == 2 and "add --yes to confirm" in r.stderr and r.stdout == ""
    assert _json(home, "status", "--json")["bots_running"] == 1  # nothing happened (e-wide paused)
    r = home.cli("panic", "--yes")
    assert r.returncode == 0 and r.stdout.startswith("PANIC done: 2 bots stopped"), r.stderr
    status = _json(home, "status", "--json")
    assert status["bots_running"] == 0
    assert all(b["status"] == "stopped" for b in status["bots"])
    assert all(b["open_positions"] == 0 for b in status["bots"])
    assert _json(home, "positions", "--json") == []

    code, _ = engine.terminate()
    assert code == 0
    _reads_match_the_database(home)


def _reads_match_the_database(home: Any) -> None:
    """trades, equity and bots list against the tables (no engine writes now)."""
    ids = dict(home.query("SELECT name, id FROM bots WHERE deleted=0"))
    trades = _json(home, "trades", "--json")
    for name, bot_id in ids.items():
        rows = home.query(
            f"SELECT side, fee, realised FROM fills WHERE bot_id={bot_id} ORDER BY ts, seq"
        )
        mine = [t for t in trades["trades"] if t["bot"] == name]
        # every position was closed by PANIC: each sell ended one round trip
        assert len(mine) == sum(side == "sell" for side, _, _ in rows), name
        realised = sum((Decimal(r) for side, _, r in rows if side == "sell"), Decimal(0))
        fees = sum((Decimal(f) for _, f, _ in rows), Decimal(0))
        assert sum((Decimal(t["pnl"]) for t in mine), Decimal(0)) == realised - fees, name
        assert sum((Decimal(t["fees"]) for t in mine), Decimal(0)) == fees, name
    assert len(trades["trades"]) > 0
    assert {t["reason"] for t in trades["trades"]} <= {
        "exit",
        "stop_loss",
        "take_profit",
        "flatten",
    }
    assert "flatten" in {t["reason"] for t in trades["trades"] if t["bot"] == "e-wide"}
    assert sum(d["trades"] for d in trades["daily"]) == len(trades["trades"])
    one = _json(home, "trades", "e-wide", "--json")["trades"]
    assert one == [t for t in trades["trades"] if t["bot"] == "e-wide"]
    assert _json(home, "trades", "--since", "2999-01-01", "--json") == {"trades": [], "daily": []}
    r = home.cli("trades", "--since", "yesterday")
    assert r.returncode == 2 and "--since 'yesterday'" in r.stderr

    text = home.ok("equity", "e-sma", "--csv")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["ts", "equity"]
    stored = home.query(
        f"SELECT equity FROM equity_points WHERE bot_id={ids['e-sma']} ORDER BY ts, id"
    )
    assert [Decimal(r[1]) for r in rows[1:]] == [Decimal(e) for (e,) in stored]
    points = _json(home, "equity", "e-sma", "--json")
    assert [p["equity"] for p in points] == [r[1] for r in rows[1:]]

    listed = _bots(home, "bots", "list", "--json")
    assert {b["status"] for b in listed.values()} == {"stopped"}  # no engine: never running
    assert all(not b["engine"] and b["open_positions"] == 0 for b in listed.values())


def test_without_an_engine_stores_what_is_safe_and_refuses_to_trade(home) -> None:
    home.add_bot("a", *WIDE, "--start")
    home.add_bot("b", *WIDE)

    r = home.cli("bots", "pause", "a")
    assert (r.returncode, r.stdout) == (0, f"a paused ({NO_ENGINE})\n"), r.stderr
    assert home.query("SELECT status FROM bots WHERE name='a'") == [("paused",)]
    listed = _bots(home, "bots", "list", "--json")
    assert (listed["a"]["status"], listed["a"]["stored_status"]) == ("stopped", "paused")
    assert "stopped (no engine; paused at start)" in home.ok("bots", "list")
    r = home.cli("bots", "pause", "b")
    assert r.returncode == 2 and "b is stopped; only a running bot can pause" in r.stderr
    r = home.cli("bots", "resume", "a")
    assert (r.returncode, r.stdout) == (0, f"a resumed ({NO_ENGINE})\n"), r.stderr
    assert home.query("SELECT status FROM bots WHERE name='a'") == [("running",)]
    listed = _bots(home, "bots", "list", "--json")
    assert (listed["a"]["status"], listed["a"]["stored_status"]) == ("stopped", "running")
    assert "running" not in home.ok("bots", "list")  # "stopped (no engine; runs at start)"

    r = home.cli("bots", "edit", "a", "--param", "slow=7")
    assert (r.returncode, r.stdout) == (0, f"a edited: slow=7 ({NO_ENGINE})\n"), r.stderr
    (config,) = home.query("SELECT config FROM bots WHERE name='a'")[0]
    assert json.loads(config)["params"] == {"fast": 2, "slow": 7}
    r = home.cli("bots", "edit", "a", "--param", "nope=1")
    assert r.returncode == 2 and "nope: unknown parameter" in r.stderr

    before = home.query("SELECT name, status, config FROM bots")
    for args, said in (
        (("bots", "flatten", "a"), "flatten needs a running engine to trade"),
        (("panic", "--yes"), "PANIC needs a running engine to trade"),
    ):
        r = home.cli(*args)
        assert r.returncode == 1 and said in r.stderr and r.stdout == "", (args, r.stderr)
    r = home.cli("panic")
    assert r.returncode == 2 and "add --yes to confirm" in r.stderr
    assert home.query("SELECT name, status, config FROM bots") == before

    r = home.cli("status", "--json")
    assert r.returncode == 1 and "no oxbot engine is running" in r.stderr
    status = json.loads(r.stdout)
    assert status["state"] == "stopped"
    assert {b["name"]: b["status"] for b in status["bots"]} == {"a": "stopped", "b": "stopped"}
    assert status["bots"][0]["equity"] == "10000.00"
    assert _json(home, "trades", "--json") == {"trades": [], "daily": []}
    assert _json(home, "positions", "--json") == []
    assert home.ok("equity", "a", "--csv") == "ts,equity\n"
    r = home.cli("equity", "ghost")
    assert r.returncode == 2 and "no bot named 'ghost'" in r.stderr

    # the stored pause takes effect at the next start
    home.ok("bots", "pause", "a")
    engine = home.spawn("run", "--headless", "--sim-speed", "600", "--status-every", "0.05")
    engine.wait_ready()
    status = _json(home, "status", "--json")
    assert {b["name"]: b["status"] for b in status["bots"]} == {"a": "paused", "b": "stopped"}
    params = {v.name: v.config.params for v in request_snapshot(home.socket).bots}
    assert params["a"] == {"fast": 2, "slow": 7}
    code, _ = engine.terminate()
    assert code == 0


def test_a_stuck_engine_leaves_the_read_commands_on_the_database(home, fast_bots) -> None:
    """README: the read commands read the database, with or without an engine. An engine that
    runs but does not answer (SIGSTOP: stuck, or a machine swapping) used to fail `bots list`
    and `positions` after the snapshot timeout (adversary of issue 14, C3); now they say so on
    stderr and show the stored figures, statuses as stored (not "stopped")."""
    import signal

    home.add_bot(*fast_bots[0], "--start")
    engine = home.spawn("run", "--headless", "--sim-speed", "600")
    engine.wait_ready()
    engine.signal(signal.SIGSTOP)
    try:
        for args in (("bots", "list", "--json"), ("positions", "--json")):
            r = home.cli(*args)
            assert r.returncode == 0, r.stderr
            assert "did not send its snapshot" in r.stderr and "read from the database" in r.stderr
            assert "Traceback" not in r.stderr
            json.loads(r.stdout)
        listed = {b["name"]: b for b in json.loads(home.cli("bots", "list", "--json").stdout)}
        assert listed[fast_bots[0][0]]["status"] == "running"  # as stored, not "stopped"
        assert listed[fast_bots[0][0]]["engine"] is False
    finally:
        engine.signal(signal.SIGCONT)
    engine.terminate(15)
