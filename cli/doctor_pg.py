"""`oxbot doctor --db postgresql+asyncpg://...`: what can be checked of a PostgreSQL database
without writing anything. Every query runs in a READ ONLY transaction (storage/pg.py
``create_read_engine``); the server keeps its own pages, so their integrity is its tools'
work (pg_amcheck), not ours."""

from __future__ import annotations

import asyncio
from typing import Any

Row = tuple[str, str]


def checks(url: str) -> tuple[bool, list[Row]]:
    """(sound, rows to print): the server reached and its version, oxbot's schema on it (not
    newer than this oxbot, not a foreign database), and the engines registered in it."""
    return asyncio.run(_checks(url))


async def _checks(raw: str) -> tuple[bool, list[Row]]:
    from sqlalchemy import text  # noqa: PLC0415
    from sqlalchemy.exc import SQLAlchemyError  # noqa: PLC0415

    from oxbot.engine.errors import SchemaTooNew, StorageError  # noqa: PLC0415
    from oxbot.storage import pg  # noqa: PLC0415
    from oxbot.storage.migrations import (  # noqa: PLC0415
        ALEMBIC_HEAD,
        check_current,
        check_revision,
        latest_version,
        too_new,
    )

    url = pg.PgUrl.parse(raw)
    engine = pg.create_read_engine(url, pg.password_for(url))
    try:
        try:
            async with engine.connect() as conn:
                server = str(await conn.scalar(text("SHOW server_version")))
            found, revision = await pg.inspect(engine, url)
        except StorageError as e:  # tables that are not oxbot's
            return False, [("server", "reached"), ("schema", f"FOREIGN: {e}")]
        except (SQLAlchemyError, OSError) as e:
            return False, [("server", f"UNREACHABLE: {pg.connect_error(url, e)}")]
        latest = latest_version()
        rows: list[Row] = [("server", f"PostgreSQL {server}")]
        if found == 0:
            rows.append(("schema", "not created yet (made when an engine first opens it)"))
            return True, rows
        try:
            check_revision(url, revision, latest)
            if found > latest:
                raise too_new(url, found, latest)
        except SchemaTooNew as e:
            rows.append(("schema", f"TOO NEW: {e}"))
            return False, rows
        state = f"schema version {found}, revision {revision or 'none'}"
        try:
            check_current(url, found, revision, latest)
        except StorageError:
            state += (
                f": older than this oxbot's {ALEMBIC_HEAD}; an engine upgrades it when it opens"
            )
        else:
            state += " (current)"
        rows.append(("schema", state))
        rows.append(("engines", await _engines(engine)))
        rows.append(("integrity", "kept by the server (check it with pg_amcheck)"))
        return True, rows
    finally:
        await engine.dispose()


async def _engines(engine: Any) -> str:
    """The engines of the database: alive ones by name and host, then how many stopped."""
    from sqlalchemy import text  # noqa: PLC0415

    from oxbot.storage import leases  # noqa: PLC0415

    async with engine.connect() as conn:
        if await conn.scalar(text("SELECT to_regclass('engines')")) is None:
            return "none registered (the schema predates engine leases)"
        records = await conn.run_sync(lambda c: leases.listing(c, {}))
    alive = [
        f"{e.name} on {e.host} ({len(e.bots)} bot{'' if len(e.bots) == 1 else 's'})"
        for e in records
        if e.alive
    ]
    gone = len(records) - len(alive)
    said = ", ".join(alive) if alive else "none running"
    return said + (f"; {gone} stopped or silent" if gone else "")
