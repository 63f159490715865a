"""PostgreSQL specifics (storage/pg.py): the URL and its password, the writer lock, NUMERIC."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from postgres import PASSWORD, PASSWORD_ROLE, raw_rows

from oxbot.engine.errors import StorageError
from oxbot.engine.models import BotStatus
from oxbot.storage import pg, secrets
from oxbot.storage.redact import REDACTED, redact
from oxbot.storage.store import Store


def test_a_path_is_sqlite_a_url_is_postgresql() -> None:
    assert pg.is_url("postgresql+asyncpg://u@h:5432/db") and pg.is_url("postgresql://u@h/db")
    assert not pg.is_url("oxbot.db") and not pg.is_url("/tmp/postgresql.db")
    assert not pg.is_url(Path("postgresql://x"))  # a Path is a file, whatever its name
    assert pg.PgUrl.parse("postgresql://u@h/db").url.drivername == "postgresql+asyncpg"


def test_a_password_in_the_url_is_refused_and_never_shown() -> None:
    secret = "s3cret-in-the-url-42"
    with pytest.raises(StorageError) as err:
        pg.PgUrl.parse(f"postgresql+asyncpg://bob:{secret}@db.example:6543/ledger")
    text = str(err.value)
    assert secret not in text and "keyring set oxbot postgres/bob@db.example:6543" in text
    assert "PGPASSFILE" in text
    assert redact(f"log line {secret}") == f"log line {REDACTED}"  # registered as a secret


@pytest.mark.parametrize(
    "url", ["mysql://u@h/db", "postgresql+psycopg://u@h/db", "postgresql://u@h"]
)
def test_other_urls_are_refused_in_words(url: str) -> None:
    with pytest.raises(StorageError, match="asyncpg|names no database"):
        pg.PgUrl.parse(url)


async def _open_as_password_role(pg_server, make) -> str:
    url = pg_server.url(pg_server.new_database(), user=PASSWORD_ROLE)
    async with await Store.open(url) as s:
        await s.save_bot(make.config("alpha"), BotStatus.RUNNING)
        assert [c.name for c, _ in await s.load_bots()] == ["alpha"]
    return url


async def test_the_password_comes_from_pgpassfile(
    pg_server, make, tmp_path: Path, monkeypatch
) -> None:
    url = pg_server.url("postgres", user=PASSWORD_ROLE)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "none"))
    with pytest.raises(StorageError, match="password"):  # the role asks for one: none found
        await Store.open(url)
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"127.0.0.1:{pg_server.port}:*:{PASSWORD_ROLE}:{PASSWORD}\n")
    os.chmod(passfile, 0o600)  # libpq and asyncpg ignore a passfile others can read
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    await _open_as_password_role(pg_server, make)


async def test_the_password_comes_from_the_keyring(pg_server, make, tmp_path, monkeypatch) -> None:
    import keyring.core
    from memory_keyring import MemoryKeyring  # tests/support: a keyring in memory

    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "none"))
    ring = MemoryKeyring()
    monkeypatch.setattr(keyring.core, "_keyring_backend", ring)
    monkeypatch.setattr(secrets, "_stuck", None)
    url = pg.PgUrl.parse(pg_server.url("postgres", user=PASSWORD_ROLE))
    ring.set_password(secrets.SERVICE, url.account, PASSWORD)
    await _open_as_password_role(pg_server, make)
    assert redact(f"x {PASSWORD} y") == f"x {REDACTED} y"  # a loaded password is blanked


async def test_several_writers_per_database_and_a_reader_beside_them(pg_url: str, make) -> None:
    async with await Store.open(pg_url) as s:
        await s.save_bot(make.config("alpha"), BotStatus.RUNNING)
        # several engines write to one database (each bot behind its lease: storage/leases.py)
        async with await Store.open(pg_url) as other:
            assert other.writer
        async with await Store.open(pg_url, writer=False) as reader:
            assert [c.name for c, _ in await reader.load_bots()] == ["alpha"]
            with pytest.raises(StorageError, match="read-only"):
                await reader.save_bot(make.config("beta"), BotStatus.RUNNING)
            async with reader._reading() as conn:  # the connection itself refuses writes
                with pytest.raises(Exception, match="read-only transaction"):
                    await conn.exec_driver_sql("DELETE FROM bots")
    async with await Store.open(pg_url) as again:  # released on close
        assert again.writer


AMOUNTS = st.decimals(allow_nan=False, allow_infinity=False, places=None).filter(
    lambda d: abs(d.adjusted()) < 1000  # NUMERIC: up to 131072 digits before the point, 16383 after
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(amounts=st.lists(AMOUNTS, min_size=1, max_size=8))
async def test_numeric_round_trips_decimals_exactly(store_pg: Store, make, amounts) -> None:
    await store_pg.save_marks({f"s{i}": (i, a) for i, a in enumerate(amounts)})
    back = await store_pg._rows(_marks())
    got = {r["stream"]: r["close"] for r in back}
    for i, a in enumerate(amounts):
        back_a = got[f"s{i}"]
        assert isinstance(back_a, Decimal) and back_a == a
        # the very digits and exponent, as SQLite's text keeps them, except where PostgreSQL
        # has no such number: -0 is 0, and 1E+2 is 100 (NUMERIC has no positive exponent)
        if a.as_tuple().exponent <= 0 and not (a == 0 and a.is_signed()):
            assert back_a.as_tuple() == a.as_tuple()


def _marks():
    from sqlalchemy import select

    from oxbot.storage.schema import market_marks

    return select(market_marks.c.stream, market_marks.c.close)


@pytest.fixture
async def store_pg(pg_url: str):
    s = await Store.open(pg_url)
    try:
        yield s
    finally:
        await s.close()


async def test_money_is_stored_as_numeric(store_pg: Store, pg_url: str) -> None:
    await store_pg.save_marks({"m": (1, Decimal("0.000000000000000000012345678901234567890"))})
    rows = await raw_rows(pg_url, "SELECT close::text, pg_typeof(close)::text FROM market_marks")
    assert rows == [("0.000000000000000000012345678901234567890", "numeric")]


def test_without_the_server_binaries_the_postgresql_tests_are_skipped_saying_why(
    monkeypatch,
) -> None:
    import postgres

    monkeypatch.setattr(postgres, "find_bin", lambda: None)
    with pytest.raises(pytest.skip.Exception, match="initdb, pg_ctl.*install Debian's postgresql"):
        postgres.start_server()


def test_a_db_value_is_a_path_or_a_url_without_its_password(monkeypatch) -> None:
    from oxbot.storage.paths import DbUrl, resolve_db_path

    assert resolve_db_path("x.db") == Path("x.db")
    url = resolve_db_path("postgresql://bob@db.example:6543/ledger")
    assert isinstance(url, DbUrl) and url == "postgresql+asyncpg://bob@db.example:6543/ledger"
    monkeypatch.setenv("OXBOT_DB", "postgresql+asyncpg://bob@h/l")
    assert resolve_db_path(None) == "postgresql+asyncpg://bob@h/l"
    with pytest.raises(StorageError, match="holds a password"):
        resolve_db_path("postgresql://bob:pw-1234567890ab@h/l")
