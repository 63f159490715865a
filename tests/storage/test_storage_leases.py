"""Bot leases on one PostgreSQL database shared by several engines (storage/leases.py): one
owner per bot, expiry on the server's clock, fencing of a stale writer, renewal, release; on
SQLite (one engine, its file lock) a claim always succeeds and writes are not fenced."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import subprocess
from pathlib import Path

import pytest
from postgres import raw_rows

from oxbot.engine.errors import LeaseLost
from oxbot.engine.models import BotStatus
from oxbot.storage.store import Store

TTL = 30.0


async def _two(pg_url: str, make) -> tuple[Store, Store]:
    a = await Store.open(pg_url)
    b = await Store.open(pg_url)
    await a.save_bot(make.config("alpha"), BotStatus.RUNNING)
    await a.register_engine("engine-a", TTL)
    await b.register_engine("engine-b", TTL)
    return a, b


async def test_two_engines_claim_one_bot_at_once_and_exactly_one_wins(pg_url: str, make) -> None:
    a, b = await _two(pg_url, make)
    try:
        got = await asyncio.gather(a.claim_bot("alpha", TTL), b.claim_bot("alpha", TTL))
        assert sorted(c.ok for c in got) == [False, True]
        won, lost = (got[0], got[1]) if got[0].ok else (got[1], got[0])
        assert won.epoch == 1 and not won.must_reconcile
        winner = "engine-a" if got[0].ok else "engine-b"
        assert lost.owner == winner and lost.owner_host and 0 < lost.expires_in_ms <= TTL * 1000
        # the owner claims again: same epoch (no change of owner)
        again = await (a if got[0].ok else b).claim_bot("alpha", TTL)
        assert again.ok and again.epoch == 1
    finally:
        await a.close()
        await b.close()


async def test_an_expired_lease_is_taken_with_a_new_epoch_and_a_stale_write_is_refused(
    pg_url: str, make
) -> None:
    a, b = await _two(pg_url, make)
    try:
        assert (await a.claim_bot("alpha", 0.3)).ok
        await a.record_cycle("alpha", orders=[make.order("o1")], fills=[make.fill("f1", "o1")])
        held = await b.claim_bot("alpha", TTL)
        assert not held.ok and held.owner == "engine-a"
        await asyncio.sleep(0.45)  # past the ttl on the server's clock
        taken = await b.claim_bot("alpha", TTL)
        assert taken.ok and taken.epoch == 2 and taken.must_reconcile
        before = {
            t: await raw_rows(pg_url, f"SELECT count(*) FROM {t}")
            for t in ("orders", "fills", "decisions", "equity_points")
        }
        # A, unaware, writes its next cycle: refused, and nothing of it is stored
        with pytest.raises(LeaseLost, match="alpha was taken over by engine engine-b") as err:
            await a.record_cycle(
                "alpha",
                orders=[make.order("o2")],
                fills=[make.fill("f2", "o2")],
                decision=make.decision(),
                equity=[make.equity()],
            )
        assert err.value.bot == "alpha" and err.value.owner == "engine-b"
        with pytest.raises(LeaseLost):
            await a.save_order(make.order("o3"))  # a LIVE order intent, before its request
        with pytest.raises(LeaseLost):
            await a.set_bot_status("alpha", BotStatus.STOPPED)
        for table, count in before.items():
            assert await raw_rows(pg_url, f"SELECT count(*) FROM {table}") == count, table
        assert await raw_rows(pg_url, "SELECT status FROM bots") == [("running",)]
        assert await a.renew_leases(TTL) == ["alpha"]  # A's renewal says so too
    finally:
        await a.close()
        await b.close()


async def test_renew_returns_the_bots_taken_over(pg_url: str, make) -> None:
    a, b = await _two(pg_url, make)
    await a.save_bot(make.config("beta"), BotStatus.RUNNING)
    try:
        assert (await a.claim_bot("alpha", 0.2)).ok
        assert (await a.claim_bot("beta", TTL)).ok
        await asyncio.sleep(0.35)  # alpha's lease expired; beta's runs
        assert (await b.claim_bot("alpha", TTL)).ok
        assert not (await b.claim_bot("beta", TTL)).ok  # renewed for TTL: still a's
        assert await a.renew_leases(TTL) == ["alpha"]
        assert await a.renew_leases(TTL) == []  # said once
        await b.record_cycle("alpha", orders=[make.order("o1")])
        assert await raw_rows(pg_url, "SELECT engine_id FROM orders") == [
            (b._writer.engine_id,)  # type: ignore[union-attr]
        ]
    finally:
        await a.close()
        await b.close()


async def test_release_and_a_clean_shutdown_free_the_bots_at_once(pg_url: str, make) -> None:
    a, b = await _two(pg_url, make)
    await a.save_bot(make.config("beta"), BotStatus.RUNNING)
    try:
        assert (await a.claim_bot("alpha", TTL)).ok
        assert (await a.claim_bot("beta", TTL)).ok
        await a.release_bot("alpha")  # a stop
        got = await b.claim_bot("alpha", TTL)
        assert got.ok and got.epoch == 2 and not got.must_reconcile  # released, not expired
        records = {e.name: e for e in await b.list_engines()}
        assert records["engine-a"].bots == ("beta",) and records["engine-b"].bots == ("alpha",)
        assert records["engine-a"].alive and records["engine-a"].heartbeat_age_ms < 5000
        await a.deregister_engine()
        got = await b.claim_bot("beta", TTL)
        assert got.ok and not got.must_reconcile
        records = {e.name: e for e in await b.list_engines()}
        assert not records["engine-a"].alive and records["engine-a"].bots == ()
        assert records["engine-b"].bots == ("alpha", "beta")
    finally:
        await a.close()
        await b.close()


async def test_two_engines_starting_together_migrate_once(pg_url: str, make) -> None:
    stores = await asyncio.gather(*(Store.open(pg_url) for _ in range(3)))
    try:
        assert await raw_rows(pg_url, "SELECT version_num FROM alembic_version") == [("v6",)]
        await stores[0].save_bot(make.config("alpha"), BotStatus.RUNNING)
        assert all(s.shared for s in stores)
    finally:
        for s in stores:
            await s.close()


async def test_sqlite_has_one_engine_a_crashed_ones_lease_never_blocks(db_path: Path, make) -> None:
    async with await Store.open(db_path) as s:
        assert not s.shared
        await s.save_bot(make.config("alpha"), BotStatus.RUNNING)
        await s.register_engine("first", TTL)
        assert (await s.claim_bot("alpha", TTL)).ok
    # the engine crashed (no deregister): its lease still runs for TTL
    with sqlite3.connect(db_path) as raw:
        assert raw.execute("SELECT engine_id IS NOT NULL FROM bot_leases").fetchall() == [(1,)]
    async with await Store.open(db_path) as s:
        await s.register_engine("second", TTL)
        got = await s.claim_bot("alpha", TTL)
        assert got.ok and got.epoch == 2 and got.must_reconcile
        await s.record_cycle("alpha", orders=[make.order("o1")])
        assert [e.name for e in await s.list_engines()] == ["second", "first"]


async def test_a_dead_engine_of_this_host_is_taken_over_at_once(pg_url: str, make) -> None:
    """A killed engine restarted on the same host need not wait out the ttl: the holder's
    process is gone (its pid answers no signal), so its leases are taken at once."""
    a, b = await _two(pg_url, make)
    try:
        assert (await a.claim_bot("alpha", TTL)).ok
        gone = subprocess.Popen(["true"])
        gone.wait()  # a pid no process has now (reaped)
        await raw_rows(pg_url, f"UPDATE engines SET pid = {gone.pid} WHERE name = 'engine-a'")
        got = await b.claim_bot("alpha", TTL)
        assert got.ok and got.epoch == 2 and got.must_reconcile
        with pytest.raises(LeaseLost, match="taken over by engine engine-b"):
            await a.record_cycle("alpha", equity=[make.equity()])
    finally:
        await a.close()
        await b.close()


async def test_a_bot_claimed_but_not_yet_written_here_is_not_lost_at_renewal(
    pg_url: str, make
) -> None:
    """Issue 16 F1: b claims a bot that another store saved (b never wrote it): its renewal
    must not call it lost (nothing changed hands); a release by b frees it."""
    a, b = await _two(pg_url, make)
    try:
        assert (await b.claim_bot("alpha", TTL)).ok
        assert await b.renew_leases(TTL) == []
        assert await b.renew_leases(TTL) == []
        assert await raw_rows(
            pg_url, "SELECT e.name, l.epoch FROM bot_leases l JOIN engines e USING (engine_id)"
        ) == [("engine-b", 1)]
        await b.release_bot("alpha")
        assert (await a.claim_bot("alpha", TTL)).ok
        assert await b.renew_leases(TTL) == []  # released: not "lost" either
    finally:
        await a.close()
        await b.close()


async def test_a_same_named_host_in_another_process_space_is_never_probed(
    pg_url: str, make
) -> None:
    """Issue 16 F4: an engine on a host of the same NAME but another pid namespace or machine
    (a container, two raspberrypi) whose pid does not exist here, heartbeat fresh: its lease
    is not taken before its ttl (a pid of another space means nothing here)."""
    a, b = await _two(pg_url, make)
    try:
        gone = subprocess.Popen(["true"])
        gone.wait()  # a pid no process has here
        other = f"{socket.gethostname()}:{gone.pid}:0123456789ab:beef"
        now = "(extract(epoch from now()) * 1000)::bigint"
        await raw_rows(
            pg_url,
            "INSERT INTO engines (engine_id, host, pid, name, started_ms, heartbeat_ms, ttl_ms) "
            f"VALUES ('{other}', '{socket.gethostname()}', {gone.pid}, 'twin', {now}, {now}, "
            f"{int(TTL * 1000)})",
        )
        bot_id = (await raw_rows(pg_url, "SELECT id FROM bots WHERE name = 'alpha'"))[0][0]
        await raw_rows(
            pg_url,
            "INSERT INTO bot_leases (bot_id, engine_id, epoch, acquired_ms, expires_ms, "
            f"must_reconcile) VALUES ({bot_id}, '{other}', 1, {now}, {now} + {int(TTL * 1000)}, "
            "false)",
        )
        got = await b.claim_bot("alpha", TTL)
        assert not got.ok and got.owner == "twin"
        records = {e.name: e for e in await b.list_engines()}
        assert records["twin"].alive and not records["twin"].stopped
    finally:
        await a.close()
        await b.close()


async def test_a_claim_on_a_lease_row_locked_by_a_hung_transaction_is_held_not_a_wait(
    pg_url: str, make
) -> None:
    """Issue 16 F6: a lease row locked by another session's open transaction (a hung engine's
    renewal) does not make a claim wait for ever: after lock_timeout (its floor, 0.5 s, at
    this ttl) the bot is "held", and this engine's next write goes on."""
    import asyncpg

    a = await Store.open(pg_url)
    b = await Store.open(pg_url)
    await a.save_bot(make.config("alpha"), BotStatus.RUNNING)
    await a.register_engine("engine-a", 1.5)
    await b.register_engine("engine-b", 1.5)
    hung = await asyncpg.connect(pg_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        assert (await a.claim_bot("alpha", 0.2)).ok
        await asyncio.sleep(0.3)  # expired: b may take it, once the row is free
        await hung.execute("BEGIN; SELECT * FROM bot_leases FOR UPDATE")
        t0 = asyncio.get_running_loop().time()
        got = await asyncio.wait_for(b.claim_bot("alpha", 1.5), 5)
        took = asyncio.get_running_loop().time() - t0
        assert not got.ok and "locked" in got.owner and 0.4 < took < 3, (got, took)
        assert await b.renew_leases(1.5) == []  # the session goes on
        await hung.execute("ROLLBACK")
        assert (await b.claim_bot("alpha", 1.5)).ok
    finally:
        await hung.close()
        await a.close()
        await b.close()


@pytest.mark.both_backends
async def test_engines_gone_for_a_week_are_forgotten_at_the_next_start(db, make) -> None:
    """The engines table would grow by one row per start: the next engine to register deletes
    engines stopped (or silent, i.e. killed) more than 7 days ago by the database's clock,
    unless a lease row still names them; younger ones stay listed by `oxbot status`."""
    day = 24 * 3600 * 1000
    async with await Store.open(db) as s:
        await s.save_bot(make.config("alpha"), BotStatus.RUNNING)
        for name in ("stopped-old", "killed-old", "holder-old", "stopped-new"):
            await s.register_engine(name, TTL)
            if name == "holder-old":
                assert (await s.claim_bot("alpha", TTL)).ok
            if name != "killed-old":  # killed: never deregistered, its heartbeat just stops
                await s.deregister_engine()
    # age them: as if their last word was 8 days (or 1 day) ago
    for name, days in (("stopped-old", 8), ("holder-old", 8), ("stopped-new", 1)):
        await raw_rows(
            db,
            f"UPDATE engines SET stopped_ms = stopped_ms - {days * day}, "
            f"heartbeat_ms = heartbeat_ms - {days * day} WHERE name = '{name}'",
        )
    await raw_rows(
        db,
        f"UPDATE engines SET heartbeat_ms = heartbeat_ms - {8 * day} WHERE name = 'killed-old'",
    )
    # a released lease keeps no engine; make holder-old's lease row name it again
    await raw_rows(
        db,
        "UPDATE bot_leases SET engine_id = "
        "(SELECT engine_id FROM engines WHERE name = 'holder-old')",
    )
    async with await Store.open(db) as s:
        await s.register_engine("today", TTL)
        names = sorted(e.name for e in await s.list_engines())
    assert names == ["holder-old", "stopped-new", "today"]


async def test_a_write_that_times_out_on_a_locked_table_says_so_in_words(pg_url: str, make) -> None:
    """A bot's write held up past lock_timeout (0.5 s at this ttl) by another session's lock
    fails with a StorageError in words (what happened, nothing saved, the SQLSTATE), not the
    driver's "<class 'asyncpg.exceptions.LockNotAvailableError'>"; nothing of it is stored
    and the next write, once the lock is gone, is."""
    import asyncpg

    from oxbot.engine.errors import StorageError

    s = await Store.open(pg_url)
    await s.save_bot(make.config("alpha"), BotStatus.RUNNING)
    await s.register_engine("engine-a", 1.5)
    assert (await s.claim_bot("alpha", 30)).ok
    other = await asyncpg.connect(pg_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await other.execute("BEGIN; LOCK TABLE equity_points IN ACCESS EXCLUSIVE MODE")
        with pytest.raises(StorageError) as err:
            await asyncio.wait_for(s.record_cycle("alpha", equity=[make.equity()]), 10)
        said = str(err.value)
        assert "waited too long for a row another session holds locked" in said, said
        assert "nothing of it was saved (SQLSTATE 55P03)" in said and "<class" not in said
        await other.execute("ROLLBACK")
        await s.record_cycle("alpha", equity=[make.equity()])
        assert await raw_rows(pg_url, "SELECT count(*) FROM equity_points") == [(1,)]
    finally:
        await other.close()
        await s.close()
