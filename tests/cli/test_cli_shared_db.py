"""Issue 16 F8: on a PostgreSQL database shared by several engines, a shell with no engine of
its own (`oxbot bots stop|pause|edit|delete --purge` with no local control socket) writes the
database directly. A bot whose lease a live engine holds is that engine's: the write is
refused, naming it, exit 1, and nothing is written (the engine keeps trading it)."""

from __future__ import annotations

import asyncio

from postgres import raw_rows

from oxbot.engine.models import BotConfig, BotStatus
from oxbot.storage.store import Store

from .conftest import Run


def _bot(name: str) -> BotConfig:
    return BotConfig(
        name=name, strategy="sma_cross", params={"fast": 2, "slow": 5}, symbols=["BTC/USDT"]
    )


async def _held_by_b(url: str) -> None:
    """Engine B (registered, o1's lease claimed for 60 s: its store closed without a shutdown,
    the lease runs on) runs o1; o2 is free."""
    s = await Store.open(url)
    await s.save_bot(_bot("o1"), BotStatus.RUNNING)
    await s.save_bot(_bot("o2"), BotStatus.RUNNING)
    await s.record_cycle("o1", orders=[], equity=[])
    await s.register_engine("B", 60)
    assert (await s.claim_bot("o1", 60)).ok
    await s.close()


def test_a_shell_without_engine_never_writes_a_bot_another_engine_runs(
    pg_url: str, oxbot: Run
) -> None:
    asyncio.run(_held_by_b(pg_url))
    for argv in (
        ("bots", "stop", "o1"),
        ("bots", "pause", "o1"),
        ("bots", "edit", "o1", "--param", "fast=3"),
        ("bots", "delete", "o1", "--purge"),
        ("bots", "delete", "o1"),
    ):
        code, out, err = oxbot("--db", pg_url, *argv)
        assert code == 1, (argv, code, out, err)
        assert "bot o1 runs on engine B" in err and "change it there" in err, (argv, err)
    rows = asyncio.run(
        raw_rows(pg_url, "SELECT name, status, deleted, config::text FROM bots ORDER BY name")
    )
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("o1", "running", False),
        ("o2", "running", False),
    ]
    assert '"fast": 2' in str(rows[0][3]) or '"fast":2' in str(rows[0][3])
    # a bot no engine holds is still changed directly, as before
    code, out, err = oxbot("--db", pg_url, "bots", "stop", "o2")
    assert code == 0 and "o2 stopped" in out, (out, err)


def test_flatten_and_panic_without_an_engine_here_name_the_engine_that_runs_the_bot(
    pg_url: str, oxbot: Run
) -> None:
    """Not "needs a running engine": one runs, on another host (or not on this one). The
    refusal names it and its host; o2, which no engine holds, still gets the plain refusal."""
    import socket

    asyncio.run(_held_by_b(pg_url))
    where = f"o1 runs on engine B (host {socket.gethostname()}), not on an engine of this host"
    for argv in (("bots", "flatten", "o1"), ("panic", "--yes")):
        code, out, err = oxbot("--db", pg_url, *argv)
        assert code == 1, (argv, code, out, err)
        assert where in err and "nothing was changed" in err, (argv, err)
    code, out, err = oxbot("--db", pg_url, "bots", "flatten", "o2")
    assert code == 1 and "needs a running engine to trade" in err, (out, err)
