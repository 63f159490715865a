"""Down-sampling of stored equity points, run by the writer inside the transaction that stores
new points (never by a thread of its own, so it cannot race a write).

Ages are counted back from the bot's newest stored point (the bot's own clock: virtual in a
replay), and each point belongs to one tier by the age of the bucket that holds it:

    newer than 24 h   every point
    24 h to 30 days   per 1-hour bucket
    older             per UTC day

From each bucket the rows kept are real samples, untouched: the bucket's LAST (what the curve
ends the bucket at), its MIN and its MAX (so a drawdown or a spike inside a bucket still shows on
the chart), and the FIRST point of every UTC day (``day_open_equity`` reads it). So a bucket keeps
at most four rows. Buckets are aligned to the epoch and each tier's bucket is a multiple of the
finer one, so thinning thinned rows again keeps the same extremes: the min of a day is the min of
one of its hours, which was kept. The newest point is always in the first tier.

Equity is exact decimal text, so the comparisons run here in Python on Decimals, not in SQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from . import compiled
from .schema import equity_points

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS

# (age from which the tier starts, bucket length), finest first; each bucket divides the next.
# A 15-minute tier was tried and dropped: on 5-minute candles it kept 3 rows of 3.
TIERS: tuple[tuple[int, int], ...] = (
    (DAY_MS, HOUR_MS),
    (30 * DAY_MS, DAY_MS),
)
FULL_MS = TIERS[0][0]  # every point newer than this (of the bot's time) is kept
# A bot's points are thinned once per 6 h of its own time (so between 24 and 30 h stay whole):
# a pass costs a few statements whatever it removes, so rarer passes cost less per candle.
EVERY_MS = 6 * HOUR_MS
# The most of one tier's ages a pass reads: a curve never thinned (stored before this, or by a
# long replay before a restart) is caught up a week per write, not in one long transaction.
CHUNK_MS = 7 * DAY_MS


@dataclass(frozen=True, slots=True)
class Thinned:
    """Where the last pass over a bot stopped: its newest point then, per tier the bound below
    which that tier is already thinned, and whether older points are still left to thin."""

    newest: int
    done: tuple[int, ...]
    behind: bool = False


def keepers(rows: Sequence[tuple[int, int, Decimal]], before: int | None, bucket: int) -> set[int]:
    """The ids to keep of ``rows`` ((id, ts, equity), by ts then id) thinned to ``bucket`` ms:
    each bucket's last, min and max, and the first row of each UTC day. ``before`` is the ts of
    the bot's row just before ``rows`` (None: there is none), to tell a day's first row."""
    keep: set[int] = set()
    last_day = None if before is None else before // DAY_MS
    groups: dict[int, list[tuple[int, int, Decimal]]] = {}
    for row in rows:
        day = row[1] // DAY_MS
        if day != last_day:
            keep.add(row[0])
            last_day = day
        groups.setdefault(row[1] // bucket, []).append(row)
    for group in groups.values():
        keep.add(group[-1][0])
        keep.add(min(group, key=lambda r: r[2])[0])  # the first of equal lows
        keep.add(max(group, key=lambda r: r[2])[0])  # the first of equal highs
    return keep


def _align(ts: int, step: int) -> int:
    return ts // step * step


# The statements of a pass as plain SQL on the writer's connection's own cursor (a pass runs in
# the writer thread beside the engine: SQLAlchemy's per-statement Python cost more than SQLite).
_T = equity_points.name
SPAN = f"SELECT min(ts), max(ts) FROM {_T} WHERE bot_id = ?"
ROWS = f"SELECT id, ts, equity FROM {_T} WHERE bot_id = ? AND ts >= ? AND ts < ? ORDER BY ts, id"
BEFORE = f"SELECT max(ts) FROM {_T} WHERE bot_id = ? AND ts < ?"


def query(conn: Connection, sql: str, params: tuple[Any, ...]) -> list[Any]:
    """The rows of ``sql`` (``?`` marks): on SQLite's own cursor, else through SQLAlchemy."""
    if conn.dialect.name == "sqlite":
        return compiled.query(conn, sql, params)
    return list(conn.exec_driver_sql(compiled.numbered(sql), params).all())


def execute(conn: Connection, sql: str, params: tuple[Any, ...]) -> None:
    if conn.dialect.name == "sqlite":
        compiled.execute(conn, sql, params)
    else:
        conn.exec_driver_sql(compiled.numbered(sql), params)


def _rows(conn: Connection, bot_id: int, lo: int, hi: int) -> list[tuple[int, int, Decimal]]:
    found = query(conn, ROWS, (bot_id, lo, hi))
    return [(int(i), int(ts), Decimal(eq)) for i, ts, eq in found]


def _before(conn: Connection, bot_id: int, lo: int) -> int | None:
    value = query(conn, BEFORE, (bot_id, lo))[0][0]
    return None if value is None else int(value)


def due(last: Thinned | None, newest: int) -> bool:
    """Whether a bot whose newest point is ``newest`` is due a pass."""
    return last is None or last.behind or newest - last.newest >= EVERY_MS


def thin(conn: Connection, bot_id: int, last: Thinned | None) -> Thinned | None:
    """One pass over the bot's points, in the caller's transaction; returns where it stopped
    (None: the bot has no points). ``last`` (None after a start) limits the pass to the rows
    that aged into a coarser tier since; without it a pass starts from the oldest point."""
    span = query(conn, SPAN, (bot_id,))[0]
    if span[1] is None:
        return None
    oldest, newest = int(span[0]), int(span[1])
    cutoffs = [_align(newest - age, bucket) for age, bucket in TIERS]
    done: list[int] = []
    drop: list[int] = []
    behind = False
    for i, (_, bucket) in enumerate(TIERS):
        floor = cutoffs[i + 1] if i + 1 < len(TIERS) else oldest  # older: a coarser tier's
        lo = max(floor if last is None else max(last.done[i], floor), oldest)
        hi = cutoffs[i]
        if hi - lo > CHUNK_MS:
            hi, behind = _align(lo + CHUNK_MS, bucket), True
        done.append(max(lo, hi))
        if lo >= hi:
            continue
        rows = _rows(conn, bot_id, lo, hi)
        kept = keepers(rows, _before(conn, bot_id, lo), bucket)
        drop.extend(r[0] for r in rows if r[0] not in kept)
    _delete(conn, drop)
    return Thinned(newest, tuple(done), behind)


def _delete(conn: Connection, ids: Iterable[int]) -> None:
    batch = list(ids)
    for start in range(0, len(batch), 500):  # well under SQLite's bound-parameter limit
        part = tuple(batch[start : start + 500])
        marks = ", ".join("?" * len(part))
        execute(conn, f"DELETE FROM {_T} WHERE id IN ({marks})", part)
