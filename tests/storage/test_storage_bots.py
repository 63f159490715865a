"""Bots come back after a restart with their config and state; deletes keep or purge history."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from oxbot.engine.errors import StorageError
from oxbot.engine.models import BotStatus, Mode
from oxbot.storage.store import Store


async def test_bots_round_trip_in_creation_order(db_path: Path, make) -> None:
    llm = make.config(
        "llm-1",
        strategy="llm",
        symbols=("ETH/USDT", "SOL/USDT"),
        capital=Decimal("2500.55"),
        cadence_s=300,
        llm={"model": "m"},
        params={"temperature": 0.2},
        mode=Mode.PAPER,
    )
    async with await Store.open(db_path) as s:
        await s.save_bot(make.config("zeta"), BotStatus.RUNNING)
        await s.save_bot(llm, BotStatus.STOPPED)
    async with await Store.open(db_path) as s:
        loaded = await s.load_bots()
    assert loaded == [(make.config("zeta"), BotStatus.RUNNING), (llm, BotStatus.STOPPED)]
    assert loaded[1][0].capital == Decimal("2500.55")


async def test_save_bot_updates_in_place_and_status_changes(store: Store, make) -> None:
    await store.save_bot(make.config("beta"), BotStatus.RUNNING)
    updated = make.config("alpha", timeframe="5m")
    await store.save_bot(updated, BotStatus.PAUSED)
    await store.set_bot_status("beta", BotStatus.ERROR)

    assert await store.load_bots() == [
        (updated, BotStatus.PAUSED),
        (make.config("beta"), BotStatus.ERROR),
    ]
    with pytest.raises(StorageError, match="no bot named 'nope'"):
        await store.set_bot_status("nope", BotStatus.RUNNING)


async def _trade(store: Store, make, bot: str) -> None:
    await store.record_cycle(
        bot,
        orders=[make.order(f"{bot}-o1", bot=bot)],
        fills=[make.fill(f"{bot}-f1", f"{bot}-o1", bot=bot)],
        positions={"BTC/USDT": make.position()},
        decision=make.decision(bot=bot),
        equity=[make.equity(bot=bot)],
    )


def _count(db: Path, table: str) -> int:
    return sqlite3.connect(db).execute(f"SELECT count(*) FROM {table}").fetchone()[0]


async def test_soft_delete_keeps_history_and_frees_the_name(
    store: Store, make, db_path: Path
) -> None:
    await _trade(store, make, "alpha")
    assert await store.delete_bot("alpha") is True

    assert await store.load_bots() == []
    for table in ("orders", "fills", "positions", "decisions", "equity_points"):
        assert _count(db_path, table) == 1, table
    # The name is reusable, and the new bot starts with an empty ledger.
    await store.save_bot(make.config("alpha", capital=Decimal("500")), BotStatus.STOPPED)
    assert await store.load_fills("alpha") == []
    assert await store.load_positions("alpha") == {}
    assert await store.fill_count("alpha") == 0
    # ...while the deleted bot's rows are still there for the audit.
    assert _count(db_path, "fills") == 1


async def test_purge_removes_history(store: Store, make, db_path: Path) -> None:
    await store.save_bot(make.config("beta"), BotStatus.RUNNING)
    await _trade(store, make, "alpha")
    await _trade(store, make, "beta")

    assert await store.delete_bot("alpha", purge_history=True) is True

    for table in ("orders", "fills", "positions", "decisions", "equity_points"):
        assert _count(db_path, table) == 1, table  # only beta's rows are left
    assert _count(db_path, "bots") == 1
    assert await store.fill_count("beta") == 1
    assert await store.delete_bot("alpha") is False


async def test_invalid_stored_config_names_the_bot(store: Store, db_path: Path) -> None:
    with sqlite3.connect(db_path) as raw:
        raw.execute("""UPDATE bots SET config = '{"name": "alpha", "timeframe": "7m"}'""")
    with pytest.raises(StorageError, match="stored config of bot 'alpha' is invalid"):
        await store.load_bots()


async def test_purge_after_a_plain_delete_clears_the_kept_history(store, make) -> None:

    await store.save_bot(make.config("gone"), BotStatus.STOPPED)
    await store.record_cycle("gone", decision=make.decision(bot="gone", ts=1))
    assert await store.delete_bot("gone") is True  # soft: history kept
    assert await store.delete_bot("gone") is False  # no live bot of that name
    assert await store.delete_bot("gone", purge_history=True) is True
    with sqlite3.connect(store.path) as raw:
        assert raw.execute("SELECT count(*) FROM decisions WHERE bot='gone'").fetchone() == (0,)
        assert raw.execute("SELECT count(*) FROM bots WHERE name='gone'").fetchone() == (0,)
    assert await store.delete_bot("gone", purge_history=True) is False
