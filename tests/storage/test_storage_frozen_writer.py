"""An engine frozen (a paused VM, SIGSTOP) inside a write transaction must not hold its locks
for good: the lease row it locked (storage/leases.py `fence`) would keep every other engine's
claim waiting. The server ends the write session once it has been idle in its transaction for
storage/pg.py's IDLE_IN_TRANSACTION (PostgreSQL 15 docs, Client Connection Defaults:
idle_in_transaction_session_timeout), and the waiting statement goes on."""

from __future__ import annotations

import time

import asyncpg
import pytest
from sqlalchemy import text

from oxbot.storage import pg


async def test_a_write_session_idle_in_its_transaction_is_ended_and_its_lock_released(
    pg_url: str,
) -> None:
    plain = pg_url.replace("postgresql+asyncpg://", "postgresql://")
    other = await asyncpg.connect(plain)
    frozen = pg.create_write_engine(pg.PgUrl.parse(pg_url), None)
    try:
        await other.execute("CREATE TABLE lease_row (id int PRIMARY KEY, epoch int)")
        await other.execute("INSERT INTO lease_row VALUES (1, 1)")
        conn = await frozen.connect()
        await conn.begin()
        await conn.execute(text("UPDATE lease_row SET epoch = epoch WHERE id = 1"))  # locked
        started = time.monotonic()
        # ... and the engine stops sending anything: the other's update waits, then goes on
        await other.execute("UPDATE lease_row SET epoch = 2 WHERE id = 1", timeout=20)
        waited = time.monotonic() - started
        assert 4 <= waited < 15, waited
        ended = await other.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'oxbot'"
        )
        assert ended == 0  # the frozen session is gone: its transaction rolled back
        with pytest.raises(Exception):  # noqa: B017 - whichever way the driver says so
            await conn.execute(text("SELECT 1"))
    finally:
        await other.close()
        await frozen.dispose(close=False)
