"""`oxbot doctor` on a PostgreSQL database (a real server, tests/support/postgres.py): it used
to refuse with "checks SQLite database files". It now says whether the server answers, whether
the database is oxbot's and of which schema, and which engines use it, writing nothing; exit 1
when the server cannot be reached, the database is another program's, or its schema is newer
than this oxbot."""

from __future__ import annotations

import asyncio
import socket

from postgres import free_port, raw_rows

from oxbot.engine.models import BotConfig, BotStatus
from oxbot.storage.migrations import ALEMBIC_HEAD, latest_version
from oxbot.storage.store import Store

from .conftest import Run


def _lines(out: str) -> dict[str, str]:
    return {k: v.strip() for k, _, v in (line.partition("  ") for line in out.splitlines())}


async def _engine_b(url: str) -> None:
    s = await Store.open(url)
    await s.save_bot(
        BotConfig(name="o1", strategy="sma_cross", params={}, symbols=["BTC/USDT"]),
        BotStatus.RUNNING,
    )
    await s.register_engine("B", 60)
    assert (await s.claim_bot("o1", 60)).ok
    await s.close()  # no shutdown: B's heartbeat is fresh, so it is alive for 60 s


def test_doctor_on_postgresql_says_server_schema_and_engines(pg_url: str, oxbot: Run) -> None:
    code, out, err = oxbot("--db", pg_url, "doctor")
    assert code == 0, (out, err)
    rows = _lines(out)
    assert rows["server"].startswith("PostgreSQL 1"), out
    assert rows["schema"] == "not created yet (made when an engine first opens it)"

    asyncio.run(_engine_b(pg_url))
    before = asyncio.run(raw_rows(pg_url, "SELECT count(*) FROM engines"))
    code, out, err = oxbot("--db", pg_url, "doctor")
    assert code == 0, (out, err)
    rows = _lines(out)
    assert rows["schema"] == f"schema version {latest_version()}, revision {ALEMBIC_HEAD} (current)"
    assert rows["engines"] == f"B on {socket.gethostname()} (1 bot)"
    assert "pg_amcheck" in rows["integrity"]
    assert asyncio.run(raw_rows(pg_url, "SELECT count(*) FROM engines")) == before  # read only

    asyncio.run(raw_rows(pg_url, "UPDATE alembic_version SET version_num = 'v5'"))
    code, out, err = oxbot("--db", pg_url, "doctor")
    assert code == 0 and "older than this oxbot's" in _lines(out)["schema"], out
    asyncio.run(raw_rows(pg_url, "UPDATE alembic_version SET version_num = 'v99'"))
    code, out, err = oxbot("--db", pg_url, "doctor")
    assert code == 1 and "TOO NEW: " in _lines(out)["schema"] and "'v99'" in out, out


def test_doctor_on_postgresql_says_unreachable_and_foreign(pg_url: str, oxbot: Run) -> None:
    nowhere = f"postgresql+asyncpg://oxbot@127.0.0.1:{free_port()}/oxbot"
    code, out, err = oxbot("--db", nowhere, "doctor")
    assert code == 1 and _lines(out)["server"].startswith("UNREACHABLE: "), out
    assert "Traceback" not in out + err

    asyncio.run(raw_rows(pg_url, "CREATE TABLE invoices (id int)"))
    code, out, err = oxbot("--db", pg_url, "doctor")
    assert code == 1 and "but not oxbot's" in _lines(out)["schema"], out
