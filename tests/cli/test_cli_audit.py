"""`oxbot audit` (cli/audit.py over app/audit.py) on databases crafted with the real Store API
(tests/support/audit_db.py):
a clean bot passes; each of the five checks failing alone fails with its figure; a bot that
opened no position passes the SL/TP check as "no position opened".

The cash of a fill is what engine/portfolio.py ``_apply`` books: a buy takes qty x price + fee, a
sell gives qty x price - fee (quote fees); the stored cash is an equity sample's
(engine/bot.py ``_sample_equity``). Timestamps are relative to the bot's own clock the CLI audits
on (its newest equity sample or fill; the last 24 h by default): the crafted newest sample is at
the crafting time, plus ``ahead_h`` for a sim bot running ahead of the wall clock."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from audit_db import Craft, crafted

from oxbot.engine.models import BotStatus, OrderReason

from .conftest import Run

D = Decimal


def checks(out: str, bot: str) -> dict[str, dict[str, object]]:
    data = json.loads(out)
    (one,) = [b for b in data["bots"] if b["bot"] == bot]
    return {c["name"]: c for c in one["checks"]}


def test_a_clean_bot_passes_every_check(oxbot: Run, home: Path) -> None:
    db = crafted(home, Craft())
    code, out, err = oxbot("--db", db, "audit")
    assert code == 0, out + err
    assert "clean: PASS" in out and "FAIL" not in out
    code, out, _ = oxbot("--db", db, "audit", "clean", "--json")
    assert code == 0
    got = checks(out, "clean")
    assert all(c["passed"] for c in got.values())
    assert got["SL/TP triggers"]["figure"] == "1 triggers"
    assert got["capital drift"]["figure"] == "0 USDT"
    assert got["cycles"]["figure"] == "12 cycles (need 10)"
    assert got["max holding time"]["figure"] == "longest 2h 00m (limit 4h 00m + 1 candle)"


def _fails_alone(oxbot: Run, home: Path, craft: Craft, check: str, figure: str) -> None:
    db = crafted(home, craft)
    code, out, err = oxbot("--db", db, "audit", craft.name, "--json")
    assert code == 1, out + err
    got = checks(out, craft.name)
    assert [n for n, c in got.items() if not c["passed"]] == [check], got
    assert got[check]["figure"] == figure
    code, out, _ = oxbot("--db", db, "audit")
    assert code == 1 and f"{craft.name}: FAIL" in out and figure in out


def test_an_errored_bot_fails_on_crashes(oxbot: Run, home: Path) -> None:
    craft = Craft(name="crashed", status=BotStatus.ERROR)
    _fails_alone(oxbot, home, craft, "no crashes", "bot in error state; 0 decision errors")


def test_a_recorded_decision_error_fails_on_crashes(oxbot: Run, home: Path) -> None:
    craft = Craft(name="erred", decision_error="provider timeout")
    _fails_alone(oxbot, home, craft, "no crashes", "1 decision error")


def test_trades_without_a_stop_or_target_hit_fail_the_sl_tp_check(oxbot: Run, home: Path) -> None:
    craft = Craft(name="nostops", exit_reason=OrderReason.EXIT)
    _fails_alone(oxbot, home, craft, "SL/TP triggers", "0 triggers")


def test_a_stored_cash_off_by_a_cent_fails_on_drift(oxbot: Run, home: Path) -> None:
    craft = Craft(name="drifted", cash_error=D("0.01"))
    _fails_alone(oxbot, home, craft, "capital drift", "0.01 USDT")


def test_a_trip_held_beyond_the_limit_fails_the_holding_time(oxbot: Run, home: Path) -> None:
    # 4 h limit + one 1 h candle allowed; held 6 h
    craft = Craft(name="held", hold_h=6)
    _fails_alone(oxbot, home, craft, "max holding time", "longest 6h 00m (limit 4h 00m + 1 candle)")


def test_a_position_still_open_beyond_the_limit_fails(oxbot: Run, home: Path) -> None:
    craft = Craft(name="stuck", open_for_h=7)
    _fails_alone(oxbot, home, craft, "max holding time", "longest 7h 00m (limit 4h 00m + 1 candle)")


def test_a_position_held_on_a_sim_clock_ahead_of_the_wall_clock_is_judged_on_it(
    oxbot: Run, home: Path
) -> None:
    # adv14 A2: a sim bot 18 h ahead, its position opened 7 h before its newest sample (still
    # after wall-now): measured on the wall clock its age was negative and it passed
    craft = Craft(name="ahead", open_for_h=7, ahead_h=18)
    _fails_alone(oxbot, home, craft, "max holding time", "longest 7h 00m (limit 4h 00m + 1 candle)")


def test_the_hours_window_is_cut_on_the_bots_own_clock(oxbot: Run, home: Path) -> None:
    # 12 hourly samples, the newest 30 h ahead of the wall clock: a 3 h window on the bot's clock
    # holds 4 of them (cut on the wall clock, all 12 were counted); the trip is 19-17 h back
    db = crafted(home, Craft(name="sim", ahead_h=30, max_hold_s=None))
    code, out, err = oxbot("--db", db, "audit", "sim", "--hours", "3", "--json")
    assert code == 1, out + err
    assert checks(out, "sim")["cycles"]["figure"] == "4 cycles (need 10)"
    code, out, _ = oxbot("--db", db, "audit", "sim", "--json")
    assert code == 0 and checks(out, "sim")["cycles"]["figure"] == "12 cycles (need 10)"


def test_a_tampered_position_quantity_fails_the_ledger_check(oxbot: Run, home: Path) -> None:
    # adv14 A1: the stored open position doubled (1 BTC bought, 2 stored); the cash is right
    craft = Craft(name="doubled", open_for_h=1, stored_qty=D(2))
    _fails_alone(oxbot, home, craft, "capital drift", "0 USDT; BTC/USDT qty stored 2 vs fills 1")


def test_a_tampered_average_entry_fails_the_ledger_check(oxbot: Run, home: Path) -> None:
    craft = Craft(name="repriced", open_for_h=1, stored_entry=D(90))
    figure = "0 USDT; BTC/USDT avg entry stored 90 vs fills 100"
    _fails_alone(oxbot, home, craft, "capital drift", figure)


def test_an_open_position_passes_the_ledger_check(oxbot: Run, home: Path) -> None:
    db = crafted(home, Craft(name="holding", open_for_h=1))
    code, out, err = oxbot("--db", db, "audit", "holding", "--json")
    assert code == 0, out + err
    assert checks(out, "holding")["capital drift"]["figure"] == "0 USDT"


def test_too_few_cycles_fail(oxbot: Run, home: Path) -> None:
    craft = Craft(name="idle", cycles=9)
    _fails_alone(oxbot, home, craft, "cycles", "9 cycles (need 10)")


def test_a_bot_that_opened_no_position_passes_sl_tp(oxbot: Run, home: Path) -> None:
    db = crafted(home, Craft(name="flat", trade=False, max_hold_s=None))
    code, out, err = oxbot("--db", db, "audit", "--json")
    assert code == 0, out + err
    got = checks(out, "flat")
    assert got["SL/TP triggers"]["figure"] == "no position opened (0 triggers)"
    assert got["max holding time"]["figure"] == "no limit set"


def test_one_failing_bot_fails_the_whole_audit_and_usage_errors_exit_2(
    oxbot: Run, home: Path
) -> None:
    db = crafted(home, Craft(), Craft(name="idle", cycles=3))
    code, out, _ = oxbot("--db", db, "audit", "--json")
    assert code == 1
    idle = checks(out, "idle")
    assert [n for n, c in idle.items() if not c["passed"]] == ["cycles"], idle
    assert all(c["passed"] for c in checks(out, "clean").values())
    code, out, _ = oxbot("--db", db, "audit")
    assert code == 1 and "clean: PASS" in out and "idle: FAIL" in out
    assert oxbot("--db", db, "audit", "clean")[0] == 0
    assert oxbot("--db", db, "audit", "nobody")[0] == 2
    assert oxbot("--db", db, "audit", "--hours", "0")[0] == 2


def test_bots_add_max_hold_is_stored_and_a_bad_one_is_a_usage_error(
    oxbot: Run, home: Path, tmp_path: Path
) -> None:
    # `bots export` writes the stored configs as JSON (cli/bots.py)
    assert oxbot("bots", "add", "timed", "--max-hold", "4h")[0] == 0
    assert oxbot("bots", "add", "minutes", "--max-hold", "90m")[0] == 0
    assert oxbot("bots", "add", "plain")[0] == 0
    out = tmp_path / "bots.json"
    assert oxbot("bots", "export", "--out", str(out))[0] == 0
    holds = {b["name"]: b["risk"]["max_hold_s"] for b in json.loads(out.read_text())}
    assert holds == {"timed": 4 * 3600, "minutes": 90 * 60, "plain": None}
    code, _out, err = oxbot("bots", "add", "bad", "--max-hold", "4x")
    assert code == 2 and "--max-hold" in err
    code, _out, err = oxbot("bots", "add", "short", "--max-hold", "30s")  # under a minute
    assert code == 2 and "--max-hold" in err, err
