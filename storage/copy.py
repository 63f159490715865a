"""Copy a whole ledger from one database to another, exactly, and prove it (`oxbot db migrate`).

Every table of the schema (storage/schema.py) is read through its typed columns, so money comes
back as Decimal from either backend (text on SQLite, NUMERIC on PostgreSQL) and is compared as a
value: ``Decimal("1.50")`` stored as text and ``Decimal("1.5000")`` read back from NUMERIC are the
same amount. The proof is a row count per table and a checksum: SHA-256 over every row of every
table in primary-key order, each value in one canonical form (Decimal normalised, booleans as
0/1). The copy runs in ONE transaction on the target, and the target's counts and checksum are
read back inside it before the commit: a copy that would differ is rolled back, never left
half-way. A target that already holds a ledger is refused (nothing is merged or overwritten).

``schema_version`` is not copied: the target's own migrations created it at the version of this
oxbot, which must be the source's (an older source is refused with the fix: open it once with
this oxbot, which upgrades it).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from oxbot.engine.errors import OxbotError

from . import schema

CHUNK = 1000  # rows per INSERT statement
SKIPPED = ("schema_version",)


class CopyError(OxbotError):
    """The copy was refused or failed; nothing was written to the target."""


@dataclass(frozen=True)
class LedgerSum:
    """What a database holds: rows per table and one checksum over all of them."""

    counts: dict[str, int]
    checksum: str

    def lines(self) -> list[str]:
        return [f"{name:<14} {n:>9,}" for name, n in self.counts.items()]


def tables() -> list[Table]:
    """The copied tables, parents before children (foreign keys)."""
    return [t for t in schema.Base.metadata.sorted_tables if t.name not in SKIPPED]


def canonical(value: Any) -> Any:
    """One form per value whatever the backend returned: a Decimal normalised to its shortest
    exact text, a bool as 0/1 (SQLite returns integers for booleans)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, Decimal):
        if value == 0:
            return "0"  # 0, 0.00 and -0 are one amount
        return format(value.normalize(), "f")
    return value


def _order_by(table: Table) -> list[Any]:
    return list(table.primary_key.columns)


async def ledger_sum(conn: AsyncConnection, only: Sequence[Table] | None = None) -> LedgerSum:
    """Row counts and the checksum of every copied table, read on ``conn``."""
    digest = hashlib.sha256()
    counts: dict[str, int] = {}
    for table in only or tables():
        n = 0
        digest.update(f"\x00table {table.name}\n".encode())
        result = await conn.stream(select(table).order_by(*_order_by(table)))
        async for row in result:
            n += 1
            values = [canonical(v) for v in row]
            digest.update(json.dumps(values, separators=(",", ":"), default=str).encode())
            digest.update(b"\n")
        counts[table.name] = n
    return LedgerSum(counts, digest.hexdigest())


async def target_rows(conn: AsyncConnection) -> int:
    """Rows the target already holds in the copied tables."""
    total = 0
    for table in tables():
        total += int((await conn.execute(select(func.count()).select_from(table))).scalar_one())
    return total


async def copy_rows(src: AsyncConnection, dst: AsyncConnection) -> None:
    """Insert every row of ``src`` into ``dst`` (same schema), table by table, in chunks."""
    for table in tables():
        result = await src.stream(select(table).order_by(*_order_by(table)))
        names = [c.name for c in table.columns]
        async for chunk in result.partitions(CHUNK):
            await dst.execute(insert(table), [dict(zip(names, row, strict=True)) for row in chunk])
    if dst.dialect.name == "postgresql":
        await _reset_sequences(dst)


async def _reset_sequences(dst: AsyncConnection) -> None:
    """Rows were inserted with their own integer keys: move each key's sequence past them, or
    the next row the engine writes would collide with a copied one."""
    for table in tables():
        for col in table.primary_key.columns:
            if not col.autoincrement or col.type.python_type is not int:
                continue
            seq = await dst.execute(
                text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": table.name, "c": col.name}
            )
            name = seq.scalar_one_or_none()
            if name is None:
                continue
            top = f"COALESCE((SELECT MAX({col.name}) FROM {table.name}), 0) + 1"
            await dst.execute(text(f"SELECT setval(:s, {top}, false)"), {"s": name})


async def copy_ledger(src: AsyncConnection, dst: AsyncConnection) -> tuple[LedgerSum, LedgerSum]:
    """Copy ``src`` into the empty ``dst`` in the transaction ``dst`` is in; return the sums
    before (source) and after (target). Raises CopyError, without writing, when the target is not
    empty or the sums differ (the caller rolls the target's transaction back)."""
    held = await target_rows(dst)
    if held:
        raise CopyError(
            f"the target already holds {held:,} rows: migrate into a new, empty database "
            "(nothing was written)"
        )
    before = await ledger_sum(src)
    await copy_rows(src, dst)
    after = await ledger_sum(dst)
    if before != after:
        diff = [
            f"{t}: {before.counts.get(t, 0):,} -> {after.counts.get(t, 0):,}"
            for t in before.counts
            if before.counts.get(t) != after.counts.get(t)
        ]
        what = "; ".join(diff) if diff else "same row counts, different values"
        raise CopyError(f"the copy differs from the source ({what}); nothing was written")
    return before, after
