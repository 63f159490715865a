"""PostgreSQL as the ledger's database: the URL, its password, the engines and the writer lock.

- ``--db postgresql+asyncpg://user@host:port/dbname`` (or $OXBOT_DB). A password in the URL is
  refused (a command line is seen by every ``ps``): it comes from the keyring (service
  ``oxbot``, account ``postgres/user@host:port``, storage/secrets.py) or else from PGPASSFILE /
  ~/.pgpass, which asyncpg reads itself when no password is given (asyncpg
  connect_utils._parse_connect_dsn_and_args: ``passfile`` defaults to $PGPASSFILE, then
  ~/.pgpass). A URL is shown with its password hidden (``str(PgUrl)``) in every message.
- Reads and writes both run on asyncpg; reads on connections whose transactions are READ ONLY
  (``default_transaction_read_only``), writes on one connection, one transaction at a time.
- Several writing engines per database (unlike SQLite's one, behind its file lock): each bot is
  run by one engine at a time through its lease (storage/leases.py), and every ledger write of
  a bot checks the lease in its own transaction. Only migrations take a lock, a transaction-level
  advisory lock, so two engines starting together never migrate twice.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import URL, event, make_url, text
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from oxbot.engine.errors import StorageError

from .redact import register_secret

SCHEMES = ("postgresql", "postgres")
# the advisory lock key of "migrating this database" (a bigint: b"oxbotmig")
MIGRATE_LOCK_KEY = int.from_bytes(b"oxbotmig", "big")


def is_url(value: str | os.PathLike[str]) -> bool:
    """Whether a --db value names a PostgreSQL database (anything else is a SQLite file)."""
    return isinstance(value, str) and value.split(":", 1)[0].split("+", 1)[0] in SCHEMES


@dataclass(frozen=True, slots=True)
class PgUrl:
    """A PostgreSQL database by URL, without a password; ``str()`` is safe to show."""

    url: URL

    @classmethod
    def parse(cls, value: str) -> PgUrl:
        try:
            url = make_url(value)
        except ArgumentError:
            raise StorageError(
                "cannot read the --db URL; write it as postgresql+asyncpg://USER@HOST:PORT/DBNAME"
            ) from None
        if url.password is not None:
            register_secret(str(url.password))
            raise StorageError(
                f"the --db URL {url.render_as_string(hide_password=True)} holds a password; "
                "leave it out and put it in the keyring (keyring set oxbot "
                f"postgres/{url.username}@{url.host}:{url.port or 5432}) or in PGPASSFILE / "
                "~/.pgpass"
            )
        # plain postgresql:// means asyncpg here (SQLAlchemy alone would pick psycopg)
        if url.drivername not in ("postgresql+asyncpg", "postgresql", "postgres"):
            raise StorageError(
                f"oxbot talks to PostgreSQL through asyncpg: write --db as "
                f"postgresql+asyncpg://..., not {url.drivername}://..."
            )
        if not url.database:
            raise StorageError(f"the --db URL {url} names no database (.../DBNAME)")
        return cls(url.set(drivername="postgresql+asyncpg"))

    def __str__(self) -> str:
        return self.url.render_as_string(hide_password=True)

    @property
    def account(self) -> str:
        """The keyring account of this server's password: ``postgres/user@host:port``."""
        return f"postgres/{self.url.username or ''}@{self.url.host or ''}:{self.url.port or 5432}"


def password_for(url: PgUrl) -> str | None:
    """The password from the keyring, or None (asyncpg then reads PGPASSFILE / ~/.pgpass)."""
    from .secrets import postgres_password  # noqa: PLC0415 - the keyring loads slowly

    return postgres_password(url.account)


# A server that does not answer (a hung network: no error, no reply) is said, not waited on
# for ever: asyncpg.connect's ``timeout`` ("connection timeout in seconds", default 60) and its
# ``command_timeout`` ("the default timeout for operations on this connection", default none),
# from asyncpg's API reference (asyncpg.connection.connect).
CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 60.0


def _engine(
    url: PgUrl,
    password: str | None,
    pool: int,
    overflow: int,
    command_timeout: float | None = None,
    **settings: str,
) -> AsyncEngine:
    args: dict[str, Any] = {
        "server_settings": {"application_name": "oxbot", **settings},
        "timeout": CONNECT_TIMEOUT_S,
    }
    if command_timeout is not None:
        args["command_timeout"] = command_timeout
    if password is not None:
        args["password"] = password
    if pool == 0:
        engine = create_async_engine(url.url, connect_args=args, poolclass=NullPool)
    else:
        engine = create_async_engine(
            url.url, connect_args=args, pool_size=pool, max_overflow=overflow
        )
    event.listen(engine.sync_engine, "connect", _numeric_as_text)
    return engine


def _numeric_as_text(dbapi_conn: Any, _record: Any) -> None:
    """NUMERIC to and from Python as text: asyncpg's binary codec hands 10000 back as
    Decimal('1E+4'); PostgreSQL's text keeps the stored digits ("10000", "1.50"), so a Decimal
    reads back as SQLite's exact text does. ``run_async`` is how SQLAlchemy documents calling
    an asyncpg-only method from a pool event ("Using awaitables-only driver methods")."""
    dbapi_conn.run_async(
        lambda conn: conn.set_type_codec(
            "numeric", encoder=str, decoder=Decimal, schema="pg_catalog", format="text"
        )
    )


def create_read_engine(url: PgUrl, password: str | None) -> AsyncEngine:
    """Pooled connections whose every transaction is READ ONLY: no read path can write."""
    return _engine(url, password, 4, 4, READ_TIMEOUT_S, default_transaction_read_only="on")


# An engine frozen (a paused VM, SIGSTOP) or cut off inside a write transaction keeps its locks,
# the lease row's among them (storage/leases.py `fence`): no other engine could ever claim the
# bot, and its claim would wait for good. The server ends such a session after this long idle
# in its transaction, which releases its locks (PostgreSQL 15 docs, Client Connection Defaults:
# idle_in_transaction_session_timeout). The Store's transactions never wait on anything but
# its own statements: seconds idle inside one means the engine is not running.
IDLE_IN_TRANSACTION = "5s"


def create_write_engine(url: PgUrl, password: str | None) -> AsyncEngine:
    """One connection for the Store's writes (the Store runs one transaction at a time)."""
    return _engine(url, password, 1, 0, idle_in_transaction_session_timeout=IDLE_IN_TRANSACTION)


def connect_error(url: PgUrl, e: BaseException) -> StorageError:
    """A failed connection, in words (the password never appears: it is not in the URL)."""
    orig = getattr(e, "orig", None) or e
    if isinstance(orig, TimeoutError):
        orig = f"it does not answer (no reply within {CONNECT_TIMEOUT_S:.0f} s)"
    return StorageError(f"cannot use the PostgreSQL database {url}: {orig}")


# ---------------------------------------------------------------------- schema (alembic)


async def inspect(engine: AsyncEngine, url: PgUrl) -> tuple[int, str | None]:
    """The schema version and alembic revision of the database, in a READ ONLY transaction (so
    nothing can be written while a newer or foreign database is looked at): 0 for an empty
    database; StorageError for a database with tables that are not oxbot's."""
    async with engine.connect() as conn:
        await conn.execute(text("SET TRANSACTION READ ONLY"))
        tables = set(
            (
                await conn.execute(
                    text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
                )
            ).scalars()
        )
        if "schema_version" not in tables:
            if tables - {"alembic_version"}:
                raise StorageError(
                    f"{url} is a PostgreSQL database but not oxbot's (no schema_version "
                    "table); use --db with another database"
                )
            return 0, None
        version = await conn.scalar(text("SELECT version FROM schema_version WHERE id = 1"))
        if version is None:
            raise StorageError(f"{url} has an empty schema_version table; restore a backup")
        revision = None
        if "alembic_version" in tables:
            revision = await conn.scalar(text("SELECT version_num FROM alembic_version"))
        await conn.rollback()
    return int(version), None if revision is None else str(revision)


@functools.cache
def _alembic() -> tuple[Any, Any]:
    """alembic's config and revisions, loaded once per process (every new SQLite database is
    upgraded through them: loading them each time cost ~8 ms a database)."""
    from alembic.config import Config  # noqa: PLC0415 - only when a schema changes
    from alembic.script import ScriptDirectory  # noqa: PLC0415

    from .migrations import alembic_location  # noqa: PLC0415

    config = Config()
    config.set_main_option("script_location", str(alembic_location()))
    return config, ScriptDirectory.from_config(config)


def alembic_upgrade(conn: Any) -> None:
    """Apply every pending alembic revision on ``conn`` (a sync Connection inside a
    transaction: all of them are committed together, or none). What ``alembic upgrade head``
    does through storage/alembic/env.py, with the revisions loaded once."""
    from alembic.runtime.environment import EnvironmentContext  # noqa: PLC0415

    config, script = _alembic()
    with EnvironmentContext(
        config, script, fn=lambda rev, _ctx: script._upgrade_revs("head", rev)
    ) as env:
        env.configure(connection=conn, target_metadata=None, transaction_per_migration=False)
        with env.begin_transaction():
            env.run_migrations()


async def prepare_writer(engine: AsyncEngine, url: PgUrl) -> int:
    """Create or migrate the schema for a writer (under the migration lock); SchemaTooNew,
    nothing written, for a database of a newer oxbot."""
    from .migrations import ALEMBIC_HEAD, check_revision, latest_version, too_new  # noqa: PLC0415

    latest = latest_version()
    try:
        found, revision = await inspect(engine, url)
        if found > latest:
            raise too_new(url, found, latest)
        check_revision(url, revision, latest)
        if revision != ALEMBIC_HEAD:
            async with engine.begin() as conn:
                # held until this transaction ends: an engine starting at the same time waits
                # here, then finds the schema migrated (read again under the lock)
                await conn.execute(
                    text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATE_LOCK_KEY}
                )
                if await _revision(conn) != ALEMBIC_HEAD:
                    await conn.run_sync(alembic_upgrade)
    except SQLAlchemyError as e:
        raise connect_error(url, e) from None
    except OSError as e:
        raise connect_error(url, e) from None
    return latest


async def _revision(conn: AsyncConnection) -> str | None:
    """The alembic revision, read inside the migration's transaction (None: no table yet)."""
    if await conn.scalar(text("SELECT to_regclass('alembic_version')")) is None:
        return None
    found = await conn.scalar(text("SELECT version_num FROM alembic_version"))
    return None if found is None else str(found)


async def check_reader(engine: AsyncEngine, url: PgUrl) -> int:
    """The version of a database a reader may open; StorageError when it cannot be read."""
    from .migrations import (  # noqa: PLC0415
        check_current,
        check_revision,
        latest_version,
        too_new,
    )

    latest = latest_version()
    try:
        found, revision = await inspect(engine, url)
    except (SQLAlchemyError, OSError) as e:
        raise connect_error(url, e) from None
    check_revision(url, revision, latest)
    if found == 0:
        raise StorageError(f"no oxbot database at {url}; start the engine once to create it")
    if found > latest:
        raise too_new(url, found, latest)
    check_current(url, found, revision, latest)
    return found
