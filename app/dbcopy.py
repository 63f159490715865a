"""`oxbot db migrate`: open the source read-only and the target as its only writer, copy the
ledger in one target transaction (storage/copy.py), and report the counts and checksums.

A database is named by a URL (``sqlite:///path``, ``postgresql+asyncpg://user@host/db``) or by a
plain path (SQLite). The source is never written: SQLite is opened read-only (``mode=ro``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from oxbot.storage import migrations
from oxbot.storage.copy import CopyError, LedgerSum, copy_ledger, ledger_sum
from oxbot.storage.engines import create_copy_engine, create_read_engine
from oxbot.storage.store import Store


@dataclass(frozen=True)
class Where:
    """A database named on the command line."""

    kind: str  # "sqlite" | "postgresql"
    path: Path | None  # SQLite
    url: str  # as given (for PostgreSQL: the SQLAlchemy URL)

    def shown(self) -> str:
        """For messages: a path, or the URL without its password."""
        if self.path is not None:
            return str(self.path)
        from sqlalchemy.engine import make_url  # noqa: PLC0415

        return make_url(self.url).render_as_string(hide_password=True)


def parse_where(text: str) -> Where:
    """A URL or a path; CopyError for a scheme oxbot cannot use."""
    if text.startswith("sqlite:///"):
        return Where("sqlite", Path(text.removeprefix("sqlite:///")).expanduser(), text)
    if text.startswith(("postgresql://", "postgresql+asyncpg://", "postgres://")):
        return Where("postgresql", None, text)
    if "://" in text:
        scheme = text.split("://", 1)[0]
        raise CopyError(
            f"unknown database scheme {scheme!r}: give a file path, sqlite:///PATH or "
            "postgresql+asyncpg://USER@HOST/DB"
        )
    return Where("sqlite", Path(text).expanduser(), text)


@dataclass(frozen=True)
class Copied:
    before: LedgerSum
    after: LedgerSum


async def _check_source(where: Where) -> None:
    if where.path is None:
        return
    if not where.path.exists():
        raise CopyError(f"{where.path} does not exist: name the database to copy with --from")
    found = migrations.inspect_version(where.path)
    latest = migrations.latest_version()
    if found == 0:
        raise CopyError(f"{where.path} holds no oxbot ledger (no schema): nothing to copy")
    if found > latest:
        raise CopyError(
            f"{where.path} has schema version {found}, newer than this oxbot's {latest}: "
            "upgrade oxbot first"
        )
    if found < latest:
        raise CopyError(
            f"{where.path} has schema version {found}, older than this oxbot's {latest}: open "
            f"it once with this oxbot (e.g. `oxbot bots list --db {where.path}`), which upgrades "
            "it, then migrate"
        )


async def migrate(src_text: str, dst_text: str) -> Copied:
    """Copy the ledger at ``src_text`` into the new or empty database ``dst_text``."""
    src, dst = parse_where(src_text), parse_where(dst_text)
    if src.kind == "postgresql" or dst.kind == "postgresql":
        raise CopyError("PostgreSQL needs the PostgreSQL backend of this oxbot (not in this build)")
    if src.path is not None and dst.path is not None and src.path.resolve() == dst.path.resolve():
        raise CopyError("--from and --to are the same database")
    await _check_source(src)
    assert src.path is not None and dst.path is not None
    if dst.path.exists() and dst.path.stat().st_size > 0:
        migrations.inspect_version(dst.path)  # StorageError: not an oxbot database, said so
    # The target's own migrations create its schema; its Store holds the writer lock (no engine
    # can start on it meanwhile) while a second connection copies in one transaction.
    target = await Store.open(dst.path)
    try:
        src_engine, dst_engine = create_read_engine(src.path), create_copy_engine(dst.path)
        try:
            async with src_engine.connect() as s, dst_engine.begin() as d:
                before, after = await copy_ledger(s, d)
        finally:
            await src_engine.dispose()
            await dst_engine.dispose()
    finally:
        await target.close()
    return Copied(before, after)


async def checksum(where_text: str) -> LedgerSum:
    """The counts and checksum of one database, read-only."""
    where = parse_where(where_text)
    await _check_source(where)
    if where.path is None:
        raise CopyError("checksum of a PostgreSQL database: not supported yet")
    engine = create_read_engine(where.path)
    try:
        async with engine.connect() as conn:
            return await ledger_sum(conn)
    finally:
        await engine.dispose()
