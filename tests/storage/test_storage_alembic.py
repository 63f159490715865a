"""Migrations through alembic on both backends (storage/migrations.py, storage/alembic/): the
baseline is schema version 5; SQLite databases are stamped with it, PostgreSQL databases are
created by it; later revisions (v6: engines, bot leases, orders.engine_id) run on both and keep
every row; a database of a newer oxbot (a newer version or an unknown revision) is refused
before anything is written, on both."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from postgres import raw_rows
from sqlalchemy import create_engine

from oxbot.engine.errors import SchemaTooNew, StorageError
from oxbot.engine.models import BotStatus
from oxbot.storage import migrations, pg
from oxbot.storage.schema import Base, ExactDecimal
from oxbot.storage.store import Store


def _script() -> ScriptDirectory:
    config = Config()
    config.set_main_option("script_location", str(migrations.alembic_location()))
    return ScriptDirectory.from_config(config)


def test_the_revisions_in_code_are_alembics() -> None:
    script = _script()
    order = [r.revision for r in reversed(list(script.walk_revisions()))]
    assert tuple(order) == migrations.REVISIONS
    assert script.get_heads() == [migrations.ALEMBIC_HEAD]
    assert migrations.BASELINE == "v5" and migrations.latest_version() == 5
    assert migrations.ALEMBIC_HEAD == "v6"


async def test_sqlite_is_stamped_with_the_baseline_and_alembic_agrees(db_path: Path, make) -> None:
    async with await Store.open(db_path) as s:
        await s.save_bot(make.config("alpha"), BotStatus.RUNNING)
    engine = create_engine(f"sqlite:///{db_path}")
    with engine.begin() as conn:
        from alembic.runtime.migration import MigrationContext

        assert MigrationContext.configure(conn).get_current_revision() == "v6"
        pg.alembic_upgrade(conn)  # alembic itself: nothing pending
        assert MigrationContext.configure(conn).get_current_revision() == "v6"
    engine.dispose()
    async with await Store.open(db_path, writer=False) as s:
        assert [c.name for c, _ in await s.load_bots()] == ["alpha"]


async def test_a_version_5_database_of_before_alembic_is_stamped_once(db_path: Path, make) -> None:
    async with await Store.open(db_path) as s:
        await s.save_bot(make.config("alpha"), BotStatus.RUNNING)
    with sqlite3.connect(db_path) as raw:
        for statement in _BACK_TO_V5[:-1]:  # what revision v6 added
            raw.execute(statement)
        raw.execute("DROP TABLE alembic_version")  # as every database oxbot wrote before
    assert migrations.inspect(db_path) == (5, None)
    async with await Store.open(db_path) as s:
        assert [c.name for c, _ in await s.load_bots()] == ["alpha"]
    assert migrations.inspect(db_path) == (5, migrations.ALEMBIC_HEAD)


async def test_sqlite_of_an_unknown_revision_is_refused_byte_identical(
    db_path: Path, make, sha256
) -> None:
    async with await Store.open(db_path) as s:
        await s.save_bot(make.config("alpha"), BotStatus.RUNNING)
    raw = sqlite3.connect(db_path)
    raw.execute("UPDATE alembic_version SET version_num = 'v6_from_the_future'")
    raw.commit()
    raw.execute("PRAGMA journal_mode=DELETE")
    raw.close()
    before = sha256(db_path)
    for writer in (True, False):
        with pytest.raises(SchemaTooNew, match="v6_from_the_future.*upgrade oxbot"):
            await Store.open(db_path, writer=writer)
    assert sha256(db_path) == before


async def test_postgresql_is_created_by_alembic_as_the_models(pg_url: str) -> None:
    async with await Store.open(pg_url) as s:
        assert s.schema_version == 5
    rows = await raw_rows(pg_url, "SELECT version_num FROM alembic_version")
    assert rows == [("v6",)]
    assert await raw_rows(pg_url, "SELECT version FROM schema_version") == [(5,)]
    columns = await raw_rows(
        pg_url,
        "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name <> 'alembic_version'",
    )
    found = {(t, c): (ty, n == "YES") for t, c, ty, n in columns}
    want = {}
    for table in Base.metadata.sorted_tables:
        for col in table.c:
            ty = "numeric" if isinstance(col.type, ExactDecimal) else None
            want[(table.name, col.name)] = (ty, bool(col.nullable))
    assert found.keys() == want.keys()
    for key, (ty, nullable) in want.items():
        assert found[key][1] == nullable, key
        if ty is not None:
            assert found[key][0] == ty, key  # money: NUMERIC, exact
        elif found[key][0] not in ("text", "character varying", "boolean"):
            assert found[key][0] == "bigint", key  # ids and ms times: 64-bit


@pytest.mark.parametrize(
    "change",
    [
        "UPDATE schema_version SET version = 99",
        "UPDATE alembic_version SET version_num = 'v6_from_the_future'",
    ],
)
async def test_newer_postgresql_is_refused_without_a_write(
    pg_server, pg_url: str, make, change: str
) -> None:
    async with await Store.open(pg_url) as s:
        await s.save_bot(make.config("alpha"), BotStatus.RUNNING)
    db = pg_url.rsplit("/", 1)[1]
    pg_server.psql(change, db)
    # Any write in this database would now fail with "read-only transaction", not the refusal.
    pg_server.psql(f"ALTER DATABASE {db} SET default_transaction_read_only = on")
    for writer in (True, False):
        with pytest.raises(SchemaTooNew, match="upgrade oxbot"):
            await Store.open(pg_url, writer=writer)
    # The lock was given back: a retry fails the same way, not with DatabaseLocked.
    with pytest.raises(SchemaTooNew):
        await Store.open(pg_url)


async def test_a_foreign_postgresql_database_is_refused(pg_server, pg_url: str) -> None:
    pg_server.psql("CREATE TABLE customers (id int)", pg_url.rsplit("/", 1)[1])
    with pytest.raises(StorageError, match="not oxbot's"):
        await Store.open(pg_url)


# What v6 added, dropped again: the database as oxbot wrote it at revision v5.
_BACK_TO_V5 = (
    "DROP TABLE bot_leases",
    "DROP TABLE engines",
    "ALTER TABLE orders DROP COLUMN engine_id",
    "UPDATE alembic_version SET version_num = 'v5'",
)
_COUNTED = ("bots", "orders", "fills", "positions", "decisions", "equity_points")


@pytest.mark.both_backends
async def test_v5_to_v6_keeps_every_row(db, make) -> None:
    database = db
    async with await Store.open(database) as s:
        await s.save_bot(make.config("alpha"), BotStatus.RUNNING)
        await s.record_cycle(
            "alpha",
            orders=[make.order()],
            fills=[make.fill()],
            positions={"BTC/USDT": make.position()},
            decision=make.decision(),
            equity=[make.equity()],
        )
    if isinstance(database, Path):
        with sqlite3.connect(database) as raw:
            for statement in _BACK_TO_V5:
                raw.execute(statement)
        assert migrations.inspect(database) == (5, "v5")
    else:
        for statement in _BACK_TO_V5:
            await raw_rows(database, statement)
    before = {t: await raw_rows(database, f"SELECT * FROM {t} ORDER BY 1") for t in _COUNTED}
    with pytest.raises(StorageError, match="older than this oxbot"):  # a reader cannot upgrade
        await Store.open(database, writer=False)
    async with await Store.open(database) as s:
        assert [c.name for c, _ in await s.load_bots()] == ["alpha"]
    rows = await raw_rows(database, "SELECT version_num FROM alembic_version")
    assert rows == [("v6",)]
    for table in _COUNTED:
        after = await raw_rows(database, f"SELECT * FROM {table} ORDER BY 1")
        if table == "orders":  # the new column, NULL for an order written before v6
            assert [r[-1] for r in after] == [None]
            after = [r[:-1] for r in after]
        assert after == before[table], table
    assert await raw_rows(database, "SELECT count(*) FROM bot_leases") == [(0,)]
