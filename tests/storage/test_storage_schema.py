"""Schema versions: fresh, migrate, newer (refused untouched), and files that are not ours."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import Connection, create_engine, inspect

from oxbot.engine.errors import SchemaTooNew, StorageError
from oxbot.engine.models import BotStatus
from oxbot.storage import migrations
from oxbot.storage.migrations import Migration
from oxbot.storage.schema import Base
from oxbot.storage.store import Store


def _version(db: Path) -> int:
    with sqlite3.connect(db) as raw:
        return raw.execute("SELECT version FROM schema_version").fetchone()[0]


async def test_fresh_database_is_created_at_latest(db_path: Path) -> None:
    async with await Store.open(db_path) as s:
        assert s.schema_version == migrations.latest_version() >= 1
        assert await s.integrity_check() == "ok"
    assert _version(db_path) == migrations.latest_version()


def _shape(conn: Connection) -> dict[str, object]:
    insp = inspect(conn)
    shape: dict[str, object] = {}
    for table in insp.get_table_names():
        cols = {(c["name"], str(c["type"]), c["nullable"]) for c in insp.get_columns(table)}
        pk = tuple(insp.get_pk_constraint(table)["constrained_columns"])
        idx = {
            (i["name"], tuple(i["column_names"]), bool(i["unique"]))
            for i in insp.get_indexes(table)
        }
        fks = {
            (tuple(f["constrained_columns"]), f["referred_table"])
            for f in insp.get_foreign_keys(table)
        }
        shape[table] = (cols, pk, idx, fks)
    return shape


async def test_migrations_build_exactly_the_models(db_path: Path, tmp_path: Path) -> None:
    async with await Store.open(db_path):
        pass
    from_models = tmp_path / "models.db"
    engine = create_engine(f"sqlite:///{from_models}")
    Base.metadata.create_all(engine)
    with engine.connect() as a, create_engine(f"sqlite:///{db_path}").connect() as b:
        migrated = _shape(b)
        # alembic's version table (storage/alembic): stamped with the baseline, v5
        assert migrated.pop("alembic_version")
        assert _shape(a) == migrated
    engine.dispose()


async def test_older_database_is_migrated_in_one_transaction(
    db_path: Path, make, monkeypatch
) -> None:
    async with await Store.open(db_path) as s:
        await s.save_bot(make.config("alpha"), BotStatus.RUNNING)
    now = migrations.latest_version()
    v2 = Migration(now + 1, "add notes", ("ALTER TABLE bots ADD COLUMN notes TEXT DEFAULT ''",))
    broken = Migration(now + 2, "breaks", ("CREATE TABLE extra (x)", "THIS IS NOT SQL"))

    monkeypatch.setattr(migrations, "MIGRATIONS", (*migrations.MIGRATIONS, v2, broken))
    with pytest.raises(StorageError, match="cannot migrate"):
        await Store.open(db_path)
    # Nothing of v2 or v3 stayed behind: one transaction.
    with sqlite3.connect(db_path) as raw:
        cols = [r[1] for r in raw.execute("PRAGMA table_info(bots)")]
        tables = [r[0] for r in raw.execute("SELECT name FROM sqlite_master")]
    assert "notes" not in cols and "extra" not in tables and _version(db_path) == now

    monkeypatch.setattr(migrations, "MIGRATIONS", (*migrations.MIGRATIONS[:now], v2))
    async with await Store.open(db_path) as s:
        assert s.schema_version == now + 1
        assert [c.name for c, _ in await s.load_bots()] == ["alpha"]
    assert _version(db_path) == now + 1


async def test_newer_database_is_refused_and_left_byte_identical(
    db_path: Path, make, sha256
) -> None:
    async with await Store.open(db_path) as s:
        await s.save_bot(make.config("alpha"), BotStatus.RUNNING)
    with sqlite3.connect(db_path) as raw:
        raw.execute("UPDATE schema_version SET version = 99")
    # A rollback-journal file: merely switching it to WAL would rewrite its header.
    raw.execute("PRAGMA journal_mode=DELETE")
    raw.close()
    before = sha256(db_path)

    for writer in (True, False):
        with pytest.raises(SchemaTooNew) as err:
            await Store.open(db_path, writer=writer)
        text = str(err.value)
        assert "99" in text and f"version {migrations.latest_version()}" in text
        assert "upgrade oxbot" in text
    assert sha256(db_path) == before
    # The lock was given back: a retry fails the same way, not with DatabaseLocked.
    with pytest.raises(SchemaTooNew):
        await Store.open(db_path)


@pytest.mark.parametrize("content", [b"hello, this is a text file\n" * 10, b"\x00" * 4096])
async def test_not_a_database_is_a_clear_error(tmp_path: Path, content: bytes, sha256) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(content)
    before = sha256(path)
    with pytest.raises(StorageError, match="is not a SQLite database"):
        await Store.open(path)
    assert sha256(path) == before


async def test_foreign_sqlite_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as raw:
        raw.execute("CREATE TABLE photos (id INTEGER)")
    raw.close()
    with pytest.raises(StorageError, match="not oxbot's"):
        await Store.open(path)


async def test_pragmas_on_every_connection(store: Store) -> None:
    expected = {"journal_mode": "wal", "synchronous": 2, "busy_timeout": 5000, "foreign_keys": 1}
    # Several read connections at once: the pool opens more than one, each must be configured.
    conns = [await store._engine.connect() for _ in range(3)]
    try:
        for conn in conns:
            got = {p: (await conn.exec_driver_sql(f"PRAGMA {p}")).scalar() for p in expected}
            assert got == expected
    finally:
        for conn in conns:
            await conn.close()
    assert store._writer is not None
    with store._writer._engine.connect() as wconn:
        got = {p: wconn.exec_driver_sql(f"PRAGMA {p}").scalar() for p in expected}
    assert got == expected


async def test_writes_take_the_write_lock_at_begin(store: Store, db_path: Path) -> None:
    other = sqlite3.connect(db_path, timeout=0, isolation_level=None)
    assert store._writer is not None
    try:
        with store._writer._transaction():
            # No statement ran yet, but BEGIN IMMEDIATE already holds the write lock.
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
    finally:
        other.close()


async def test_read_connections_cannot_write(store: Store) -> None:
    async with store._engine.connect() as conn:
        with pytest.raises(Exception, match="readonly"):
            await conn.exec_driver_sql("DELETE FROM bots")
    assert len(await store.load_bots()) == 1


async def test_reader_reads_without_lock_and_cannot_write(
    store: Store, make, db_path: Path
) -> None:
    await store.record_cycle("alpha", equity=[make.equity()])
    async with await Store.open(db_path, writer=False) as reader:
        assert reader.writer is False
        assert await reader.equity_series("alpha") == [(1_000, make.equity().equity)]
        with pytest.raises(StorageError, match="read-only"):
            await reader.set_bot_status("alpha", BotStatus.STOPPED)


async def test_reader_refuses_missing_database(tmp_path: Path) -> None:
    missing = tmp_path / "none.db"
    with pytest.raises(StorageError, match="no oxbot database"):
        await Store.open(missing, writer=False)
    assert not missing.exists()


async def test_reader_after_writer_closed_and_odd_path(tmp_path: Path, make) -> None:
    # Read-only connections go through a sqlite URI: characters such as '?', '#' and '%' and
    # spaces in a user's path must not change which file is opened.
    path = tmp_path / "my bots?#%20" / "ox db.sqlite"
    async with await Store.open(path) as s:
        await s.save_bot(make.config("alpha"), BotStatus.PAUSED)
    async with await Store.open(path, writer=False) as reader:
        assert await reader.load_bots() == [(make.config("alpha"), BotStatus.PAUSED)]
    # (a read-only connection may leave the empty -wal/-shm files behind: SQLite's rule)
    names = {p.name for p in path.parent.iterdir()}
    assert (
        {"ox db.sqlite", "ox db.sqlite.lock"}
        <= names
        <= {"ox db.sqlite", "ox db.sqlite.lock", "ox db.sqlite-wal", "ox db.sqlite-shm"}
    )
    assert [p.name for p in tmp_path.iterdir() if p.name != "home"] == ["my bots?#%20"]
