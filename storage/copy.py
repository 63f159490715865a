"""Copy a whole ledger from one database to another (`oxbot db migrate`): SQLite to PostgreSQL.

The source is opened read-only (it must be at this oxbot's schema version); the target as its
writer (its lock taken, its schema created) and must be empty: a ledger is never merged into
another. Every table is copied in ONE transaction, ids kept, so the target is the whole ledger
or nothing; PostgreSQL's id sequences then continue after the copied ids.

The proof is a checksum: per table, its row count and a SHA-256 over its rows in key order,
each value in a canonical text (an amount as its exact number, so SQLite's "1E+1" and
PostgreSQL's 10 are the same amount; -0 is 0), computed on the source before and on the target
after, through a fresh read-only Store.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Table, insert, select, text

from oxbot.engine.errors import StorageError

from . import schema
from .store import Store

# Every ledger table, parents first (foreign keys); schema_version and alembic's table are the
# target's own (created by Store.open), not copied.
TABLES: tuple[Table, ...] = (
    schema.bots,
    schema.market_marks,
    schema.orders,
    schema.fills,
    schema.positions,
    schema.decisions,
    schema.equity_points,
    schema.risk_state,
    schema.capital_flows,
)


@dataclass(frozen=True, slots=True)
class Summary:
    """Row counts and one checksum of a ledger."""

    counts: dict[str, int]
    checksum: str


def _canonical(value: Any) -> str:
    if value is None:
        return "\x00"
    if isinstance(value, Decimal):
        value = Decimal(0) if value == 0 else value.normalize()
        return format(value, "f")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


async def summarise(store: Store) -> Summary:
    """The row count of every table and a SHA-256 of all their rows (see the module doc)."""
    digest = hashlib.sha256()
    counts: dict[str, int] = {}
    for table in TABLES:
        order = list(table.primary_key.columns)
        rows = await store._rows(select(table).order_by(*order))
        counts[table.name] = len(rows)
        digest.update(f"\x01{table.name}\x01".encode())
        for row in rows:
            line = "\x02".join(_canonical(row[c.name]) for c in table.c)
            digest.update(line.encode() + b"\x03")
    return Summary(counts, digest.hexdigest())


def _insert_all(writer_engine: Any, batches: list[tuple[Table, list[dict[str, Any]]]]) -> None:
    """Writer side (thread or greenlet): every table in one transaction, then the sequences."""
    with writer_engine.begin() as conn:
        for table, rows in batches:
            if rows:
                conn.execute(insert(table), rows)
        if conn.dialect.name == "postgresql":
            _continue_sequences(conn)


def _continue_sequences(conn: Connection) -> None:
    for table in TABLES:
        for column in table.primary_key.columns:
            if column.autoincrement is True or (
                column.autoincrement == "auto" and table._autoincrement_column is column
            ):
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', '{column.name}'), "
                        f"coalesce((SELECT max({column.name}) FROM {table.name}), 0) + 1, false)"
                    )
                )


async def copy_ledger(source: Path | str, target: str) -> tuple[Summary, Summary]:
    """Copy the ledger at ``source`` into the empty database ``target``; (source summary,
    target summary read back). StorageError, nothing written, for a non-empty target."""
    async with await Store.open(source, writer=False) as src:
        before = await summarise(src)
        batches = [
            (t, [dict(r) for r in await src._rows(select(t).order_by(*t.primary_key.columns))])
            for t in TABLES
        ]
    async with await Store.open(target) as dst:
        there = await summarise(dst)
        if any(there.counts.values()):
            full = ", ".join(f"{n} {t}" for t, n in there.counts.items() if n)
            raise StorageError(
                f"{dst.path} is not empty ({full}); a ledger is copied only into an empty "
                "database (nothing was copied)"
            )
        writer = dst._require_writer()
        await dst._write(_insert_all, writer._engine, batches)
    async with await Store.open(target, writer=False) as check:
        after = await summarise(check)
    return before, after
