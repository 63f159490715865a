"""`oxbot replay` over a real ledger (conftest.py: a PAPER sma_cross bot run by the live engine
over CSV candles): unchanged limits give the stored fills exactly; tighter limits list the
verdicts that differ and trade smaller; unknown bots, bad --risk and empty ranges say one line.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from oxbot.app.replay import run_replay
from oxbot.cli.main import main
from oxbot.engine.models import Fill, Side

Ledger = Any  # conftest.py Ledger (test folders cannot import each other)
Row = tuple[str, str, int, Decimal, Decimal, Decimal, str]


def rows(fills: list[Fill]) -> list[Row]:
    return [(f.symbol, f.side.value, f.ts, f.qty, f.price, f.fee, f.reason.value) for f in fills]


def cli(ledger: Ledger, *args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["--db", str(ledger.db), "replay", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_unchanged_limits_reproduce_the_stored_fills_exactly(ledger: Ledger) -> None:
    reasons = {f.reason.value for f in ledger.fills}
    assert {"entry", "exit", "stop_loss", "take_profit"} <= reasons, reasons  # worth checking
    report = run_replay(ledger.db, ledger.config.name, csv=ledger.csv)
    assert rows(report.replayed.fills) == rows(ledger.fills)
    assert rows(report.stored.fills) == rows(ledger.fills)
    assert report.differing == []
    assert report.replayed.final_equity == report.stored.final_equity
    assert len(report.replayed.trips) == len(report.stored.trips) > 5
    statuses = {v.stored_status for v in report.verdicts}
    assert {"approved", "rejected"} <= statuses, statuses  # the limits bound


def test_cli_json_unchanged_says_all_same(
    ledger: Ledger, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(ledger, "paper1", *ledger.csv_args(), "--json", capsys=capsys)
    assert code == 0, err
    data = json.loads(out)
    assert data["different"] == 0 and data["same"] == data["decisions"] > 10
    assert data["stored"] == data["replayed"]
    assert data["changes"] == {}


def test_tighter_position_limit_lists_the_differing_verdicts_and_trades_smaller(
    ledger: Ledger, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(
        ledger, "paper1", *ledger.csv_args(), "--risk", "max_position_pct=5", capsys=capsys
    )
    assert code == 0, err
    head = out.splitlines()[2]
    same, different = (int(x.split()[0].replace(",", "")) for x in head[10:].split(", "))
    assert head.startswith("verdicts: ") and different > 0, out
    assert out.count("    stored:   ") == different == out.count("    replayed: ")
    assert "changed limits and costs: max_position_pct=5" in out
    assert "trades only as stored: " in out and "trades only replayed: " in out
    report = run_replay(ledger.db, "paper1", csv=ledger.csv, risk=["max_position_pct=5"])
    assert len(report.differing) == different and len(report.verdicts) == same + different

    def bought(fills: list[Fill]) -> Decimal:
        return sum((f.qty * f.price for f in fills if f.side is Side.BUY), Decimal(0))

    assert bought(report.replayed.fills) < bought(report.stored.fills) / 4
    eq = report.replayed.final_equity
    # every buy at most 5 % of equity (and its fee) when made
    assert all(f.qty * f.price <= eq * 2 for f in report.replayed.fills)


def test_fee_and_slippage_change_the_fills(ledger: Ledger) -> None:
    report = run_replay(
        ledger.db, "paper1", csv=ledger.csv, fee_bps=Decimal(0), slippage_bps=Decimal(0)
    )
    assert all(f.fee == 0 for f in report.replayed.fills)
    assert report.changes == {"fee_rate": "0", "slippage_bps": "0"}
    assert report.replayed.fills[0].price != ledger.fills[0].price  # the stored had 5 bps


def test_since_starts_from_the_stored_positions(ledger: Ledger) -> None:
    """From the middle: the stored fills before --since give the wallet, and the replayed
    fills from then on are the stored ones."""
    mid = ledger.fills[len(ledger.fills) // 2].ts + 1
    report = run_replay(ledger.db, "paper1", csv=ledger.csv, since_ms=mid)
    later = [f for f in ledger.fills if f.ts >= mid]
    assert rows(report.replayed.fills) == rows(later)
    assert all(v.ts >= mid for v in report.verdicts)


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["ghost"], "no bot named 'ghost'; the bots are: paper1"),
        (
            ["paper1", "--risk", "max_pos=5"],
            "--risk max_pos: not a risk limit; the limits are: max_position_pct, ",
        ),
        (["paper1", "--risk", "max_position_pct=abc"], "--risk max_position_pct: "),
        (["paper1", "--risk", "stop_loss_pct=150"], "--risk stop_loss_pct: "),
        (["paper1", "--since", "2020-01-01", "--until", "2020-02-01"], "no stored decisions in"),
    ],
)
def test_bad_input_says_one_line(
    ledger: Ledger, capsys: pytest.CaptureFixture[str], args: list[str], said: str
) -> None:
    code, out, err = cli(ledger, *args, *ledger.csv_args(), capsys=capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and said in err, err


def test_no_candles_names_the_flag(ledger: Ledger, capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = cli(ledger, "paper1", capsys=capsys)
    assert code == 2
    assert "no 1h candles for BTC/USDT, ETH/USDT of bot paper1" in err


def test_bot_without_decisions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "x.db"
    assert main(["--db", str(db), "--create", "bots", "add", "idle", "--symbols", "BTC/USDT"]) == 0
    capsys.readouterr()
    code = main(["--db", str(db), "replay", "idle"])
    err = capsys.readouterr().err
    assert code == 2 and err == "oxbot: bot idle has no stored decisions: nothing to replay\n"


def test_subprocess_text_report(ledger: Ledger) -> None:
    env = {**os.environ, "OXBOT_DB": str(ledger.db)}
    proc = subprocess.run(
        [sys.executable, "-m", "oxbot.cli.main", "replay", "paper1", *ledger.csv_args()],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("replay of bot paper1: 2023-")
    assert "trades only as stored: 0" in lines and "trades only replayed: 0" in lines
    assert "verdicts: " in lines[2] and ", 0 different" in lines[2]
    table = {
        ln.split("  ")[0]: ln.split()[-2:] for ln in lines if ln.startswith(("fills", "trades"))
    }
    assert table["fills"][0] == table["fills"][1] == str(len(ledger.fills))


def test_llm_bot_decisions_replay_with_the_models_sizes(llm_ledger: Ledger) -> None:
    """The offline provider's buys ask for 10 % of equity (engine/llm/offline.py BUY_SIZE_PCT)
    under a 30 % limit: only the sizes stored in ``parsed`` give the stored fills back."""
    records = asyncio.run(_records(llm_ledger))
    assert {r.source for r in records} == {"offline"}
    assert any('"size_pct"' in r.parsed for r in records)
    assert {"entry", "stop_loss"} <= {f.reason.value for f in llm_ledger.fills}
    report = run_replay(llm_ledger.db, "thinker", csv=llm_ledger.csv)
    assert rows(report.replayed.fills) == rows(llm_ledger.fills)
    assert report.differing == [] and len(report.verdicts) == len(records)
    tighter = run_replay(llm_ledger.db, "thinker", csv=llm_ledger.csv, risk=["max_position_pct=5"])
    clamped = [v for v in tighter.differing if v.status == "clamped"]
    assert clamped and all("size 10% clamped to 5%" in v.reasons for v in clamped)


async def _records(ledger: Ledger) -> list[Any]:
    from oxbot.storage.store import Store

    store = await Store.open(ledger.db, writer=False)
    try:
        return await store.recent_decisions(ledger.config.name, 100_000)
    finally:
        await store.close()


def test_other_candles_than_the_bot_traded_are_said_and_exit_1(
    ledger: Ledger, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A replay over candles the bot did not trade compares nothing: said first, exit 1
    (found by an adversarial tester: rc 0 and a confident comparison)."""
    from .conftest import candles

    other = []
    for seed, (sym, _) in enumerate(ledger.csv.items(), start=30):
        path = tmp_path / f"other-{seed}.csv"
        candles(900, seed).to_csv(path, index=False)
        other += ["--csv", f"{sym}={path}"]
    code, out, err = cli(ledger, "paper1", *other, capsys=capsys)
    assert code == 1
    assert out.startswith("WARNING: ") and "not the candles the bot traded" in out
    assert "not the candles the bot traded" in err
    code, out, _ = cli(ledger, "paper1", *other, "--json", capsys=capsys)
    assert code == 1 and json.loads(out)["candles_match"] is False
    # the bot's own candles: no warning
    code, out, _ = cli(ledger, "paper1", *ledger.csv_args(), "--json", capsys=capsys)
    assert code == 0 and json.loads(out)["candles_match"] is True


def test_a_csv_for_a_symbol_the_bot_does_not_trade_is_refused(
    ledger: Ledger, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [*ledger.csv_args(), "--csv", "DOGE/USDT=nothing.csv"]
    code, _, err = cli(ledger, "paper1", *args, capsys=capsys)
    assert code == 2 and "DOGE/USDT" in err and "does not trade" in err


@pytest.mark.parametrize("flag", ["--fee-bps", "--slippage-bps"])
def test_an_empty_cost_flag_is_refused_not_ignored(
    ledger: Ledger, flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = cli(ledger, "paper1", *ledger.csv_args(), flag, "", capsys=capsys)
    assert code == 2 and flag in err


def test_settings_edited_after_the_decisions_are_said(ledger: Ledger, tmp_path: Path) -> None:
    """The bot's limits changed after it decided (as an edit in the cockpit stores them): a
    replay "with the stored limits" uses today's, and says why its verdicts differ."""
    import shutil
    import sqlite3

    db = tmp_path / "edited.db"
    shutil.copy(ledger.db, db)
    conn = sqlite3.connect(db)
    (raw,) = conn.execute("SELECT config FROM bots WHERE name = 'paper1'").fetchone()
    config = json.loads(raw)
    config["risk"]["max_position_pct"] = "2"
    conn.execute("UPDATE bots SET config = ? WHERE name = 'paper1'", (json.dumps(config),))
    conn.commit()
    conn.close()
    report = run_replay(db, "paper1", csv=ledger.csv)
    assert report.differing
    assert any("settings were probably edited" in n for n in report.notes)
    assert not any("edited" in n for n in run_replay(ledger.db, "paper1", csv=ledger.csv).notes)


def test_a_range_ending_on_a_decision_s_fill_gives_the_same_final_equity(ledger: Ledger) -> None:
    """The range ends at the close where a decision bought: the bot sampled its equity at that
    close BEFORE deciding (engine/bot.py ``_on_bar``), so the stored side must add what that
    fill changed (its fee and slippage), or it differs from a replay that made the same fill
    (adversary F11: "9,618.94 stored, 9,616.05 replayed" with all fills agreeing)."""
    entry = next(f for f in reversed(ledger.fills) if f.reason.value == "entry")
    report = run_replay(ledger.db, "paper1", csv=ledger.csv, until_ms=entry.ts + 1)
    assert rows(report.stored.fills)[-1] == rows([entry])[0]
    assert rows(report.replayed.fills) == rows(report.stored.fills)
    assert report.replayed.final_equity == report.stored.final_equity
