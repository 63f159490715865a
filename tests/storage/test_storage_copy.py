"""`oxbot db migrate` (storage/copy.py, cli/db.py): a SQLite ledger copied into PostgreSQL
exactly (row counts and checksum before and after), never into a database that holds rows."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest

from oxbot.cli.main import main
from oxbot.engine.errors import StorageError
from oxbot.engine.models import BotStatus, CapitalFlow, RiskState, Side
from oxbot.storage.copy import copy_ledger, summarise
from oxbot.storage.store import Store

D = Decimal


async def _ledger(db: Path, make) -> None:
    async with await Store.open(db) as s:
        await s.save_bot(make.config("alpha"), BotStatus.RUNNING)
        await s.save_bot(make.config("gone"), BotStatus.STOPPED)
        await s.record_cycle("gone", orders=[make.order("g1", bot="gone")])
        await s.delete_bot("gone")  # soft: its history stays, under its own id
        await s.save_bot(make.config("beta"), BotStatus.STOPPED)
        await s.record_cycle(
            "alpha",
            orders=[make.order("o1"), make.order("o2", side=Side.SELL, ts=2_000)],
            fills=[
                make.fill("f1", "o1", price=D("42000.50"), fee=D("1E-8")),
                make.fill("f2", "o2", side=Side.SELL, ts=2_000, realised=D("-0.000001")),
            ],
            positions={"BTC/USDT": make.position(qty=D("0.123456789012345678"))},
            decision=make.decision(cost=D("0.000123"), tokens_in=10**12),
            equity=[make.equity(ts=t, equity=f"{10000 + t}.10") for t in (1_000, 2_000)],
        )
        flow = CapitalFlow(
            bot="beta",
            ts=3_000,
            amount=D("250.5"),
            capital=D("10250.5"),
            equity_before=D("10000"),
        )
        risk = RiskState(peak_equity=D("10250.5"), day=1, day_start_equity=D("10000"))
        await s.save_bot(
            make.config("beta", capital=D("10250.5")), BotStatus.STOPPED, flow=flow, risk=risk
        )
        await s.save_marks({"sim:BTC/USDT:1m": (2_000, D("42000.5"))})


async def test_a_ledger_is_copied_exactly_and_the_copy_keeps_working(
    db_path: Path, pg_url: str, make
) -> None:
    await _ledger(db_path, make)
    before, after = await copy_ledger(db_path, pg_url)
    assert before == after
    assert before.counts["fills"] == 2 and before.counts["bots"] == 3
    assert before.counts["capital_flows"] == 1 and before.counts["risk_state"] == 1
    async with await Store.open(db_path, writer=False) as src, await Store.open(pg_url) as dst:
        assert await dst.load_fills("alpha") == await src.load_fills("alpha")
        assert await dst.load_positions("alpha") == await src.load_positions("alpha")
        assert await dst.load_flows("beta") == await src.load_flows("beta")
        # the copy is a working ledger: new rows get ids after the copied ones
        await dst.save_bot(make.config("gamma"), BotStatus.RUNNING)
        await dst.record_cycle(
            "alpha", orders=[make.order("o3", ts=3_000)], fills=[make.fill("f3", "o3", ts=3_000)]
        )
        assert [f.fill_id for f in await dst.load_fills("alpha")] == ["f1", "f2", "f3"]
    # The source was only read.
    async with await Store.open(db_path, writer=False) as src:
        assert await summarise(src) == before


async def test_a_target_with_rows_is_refused_and_left_as_it_was(
    db_path: Path, pg_url: str, make
) -> None:
    await _ledger(db_path, make)
    async with await Store.open(pg_url) as dst:
        await dst.save_bot(make.config("theirs"), BotStatus.STOPPED)
        there = await summarise(dst)
    with pytest.raises(StorageError, match="not empty .*1 bots.*nothing was copied"):
        await copy_ledger(db_path, pg_url)
    async with await Store.open(pg_url, writer=False) as dst:
        assert await summarise(dst) == there


def test_the_command_prints_counts_and_checksums(db_path: Path, pg_url: str, make, capsys) -> None:
    asyncio.run(_ledger(db_path, make))
    assert main(["db", "migrate", "--from", f"sqlite:///{db_path}", "--to", pg_url]) == 0
    out = capsys.readouterr().out
    lines = dict(line.split(" ", 1) for line in out.splitlines() if line.startswith("checksum"))
    assert "identical" in out and "fills" in out
    source, target = (
        out.split("checksum source ")[1].split()[0],
        out.split("checksum target ")[1].split()[0],
    )
    assert source == target and len(source) == 64 and lines
    # a second copy into the same database is refused (exit 1, said why)
    assert main(["db", "migrate", "--from", str(db_path), "--to", pg_url]) == 1
    assert "not empty" in capsys.readouterr().err
