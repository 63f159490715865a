"""Equity points are thinned by age in the writer's own transaction (storage/thinning.py): the
newest 24 h of the bot's time stay whole, older buckets (hours, then days) keep their last, min
and max rows and every UTC day keeps its first row, so what the chart and the day's P&L read
does not change."""

from __future__ import annotations

import random
from decimal import Decimal
from pathlib import Path

import pytest

from oxbot.engine.models import EquityPoint
from oxbot.storage import thinning
from oxbot.storage.store import Store

D = Decimal
MIN = 60_000
DAY = thinning.DAY_MS
START = 1_700_000_000_000 // DAY * DAY + 7 * 3_600_000  # 07:00 UTC: days start mid-batch


def walk(n: int, step_ms: int, seed: int = 1) -> list[EquityPoint]:
    rng = random.Random(seed)
    eq, out = D(10_000), []
    for i in range(n):
        eq = max(D(1), eq + D(rng.randint(-400, 400)) / 10)
        out.append(EquityPoint("alpha", START + i * step_ms, eq, eq / 2))
    return out


async def write(store: Store, points: list[EquityPoint], batch: int) -> None:
    for i in range(0, len(points), batch):
        await store.record_cycle("alpha", equity=points[i : i + batch])


def day_open(points: list[EquityPoint]) -> tuple[int, Decimal]:
    day = points[-1].ts // DAY * DAY
    return day, next(p.equity for p in points if p.ts >= day)


def check_buckets(stored: list[tuple[int, Decimal]], truth: list[EquityPoint]) -> None:
    """Every bucket of every tier, over that tier's ages, has the same last, min and max as the
    full curve."""
    newest = truth[-1].ts
    cuts = [(newest - age) // bucket * bucket for age, bucket in thinning.TIERS]
    for i, (_, bucket) in enumerate(thinning.TIERS):
        start = cuts[i + 1] if i + 1 < len(cuts) else 0
        want, got = by_bucket(truth_rows(truth), bucket), by_bucket(stored, bucket)
        for key in {k for k in want.keys() | got.keys() if start <= k * bucket < cuts[i]}:
            w, g = want.get(key, []), got.get(key, [])
            assert (g[-1], min(g), max(g)) == (w[-1], min(w), max(w)), key * bucket


def truth_rows(truth: list[EquityPoint]) -> list[tuple[int, Decimal]]:
    return [(p.ts, p.equity) for p in truth]


def by_bucket(rows: list[tuple[int, Decimal]], bucket: int) -> dict[int, list[Decimal]]:
    out: dict[int, list[Decimal]] = {}
    for ts, equity in rows:
        out.setdefault(ts // bucket, []).append(equity)
    return out


def test_keepers_take_last_min_max_and_each_days_first() -> None:
    rows = [(1, 0, D(5)), (2, 10, D(3)), (3, 20, D(9)), (4, 30, D(4)), (5, 40, D(6))]
    assert thinning.keepers(rows, None, 100) == {1, 2, 3, 5}  # first of the day, min, max, last
    assert thinning.keepers(rows, 0, 100) == {2, 3, 5}  # the day started before these rows
    assert thinning.keepers(rows, None, 20) == {1, 2, 3, 4, 5}  # buckets of 2: nothing to drop
    equal = [(1, DAY, D(1)), (2, DAY + 1, D(1)), (3, DAY + 2, D(1))]
    assert thinning.keepers(equal, 0, DAY) == {1, 3}  # a new day's first; ties keep the first


@pytest.mark.both_backends
async def test_ten_days_of_minutes_keep_the_last_day_whole_and_every_extreme(
    store: Store,
) -> None:
    truth = walk(10 * 1440 + 37, MIN)
    await write(store, truth, 60)
    stored = await store.equity_series("alpha", limit=1_000_000)
    newest = truth[-1].ts
    recent = [(p.ts, p.equity) for p in truth if p.ts > newest - thinning.FULL_MS]
    assert stored[-len(recent) :] == recent  # the newest 24 h, every point
    assert stored[0] == (truth[0].ts, truth[0].equity)
    check_buckets(stored, truth)
    assert await store.day_open_equity("alpha") == day_open(truth)
    # bounded by the buckets: 24 h whole (30 h before the next pass), then at most 3 rows per
    # hour, and each day's first
    assert len(stored) <= 1800 + 9 * 24 * 3 + 11
    assert len(stored) < len(truth) * 0.3


@pytest.mark.both_backends
async def test_a_restart_thins_the_whole_curve_once_and_keeps_the_same_rows(
    db: Path | str, store: Store
) -> None:
    truth = walk(3 * 1440, MIN, seed=2)
    await write(store, truth, 60)
    before = await store.equity_series("alpha", limit=1_000_000)
    await store.close()
    async with await Store.open(db) as again:  # no memory of the last pass: reads it all
        extra = EquityPoint("alpha", truth[-1].ts + MIN, D(1), D(1))
        await again.record_cycle("alpha", equity=[extra])
        after = await again.equity_series("alpha", limit=1_000_000)
    # one minute later only rows that were still whole (up to 30 h old: the passes run every
    # 6 h) may go; what was thinned before is kept as it was
    old = extra.ts - thinning.FULL_MS - thinning.EVERY_MS - thinning.HOUR_MS
    assert [r for r in after if r[0] < old] == [r for r in before if r[0] < old]
    assert len(after) < len(before)
    assert after[-1] == (extra.ts, extra.equity)
    check_buckets(after, [*truth, extra])


async def test_four_months_of_five_minute_points_reach_daily_buckets(store: Store) -> None:
    truth = walk(120 * 288, 5 * MIN, seed=3)
    await write(store, truth, 12)  # one hour per write: a pass every 6 writes
    stored = await store.equity_series("alpha", limit=1_000_000)
    check_buckets(stored, truth)
    assert await store.day_open_equity("alpha") == day_open(truth)
    assert (min(e for _, e in stored), max(e for _, e in stored)) == (
        min(p.equity for p in truth),
        max(p.equity for p in truth),
    )
    # 30 h whole, 29 days of hours (3 rows at most each), 91 of days (4 rows at most each)
    assert len(stored) <= 360 + 29 * 24 * 3 + 91 * 4


@pytest.mark.both_backends
async def test_a_risk_state_save_thins_too_and_a_purge_forgets_the_pass(
    store: Store, make: object
) -> None:
    from oxbot.engine.models import BotStatus, RiskState

    truth = walk(2 * 1440, MIN, seed=4)
    state = RiskState(D(10_000), None, None)
    for i in range(0, len(truth), 120):
        await store.save_risk_state("alpha", state, truth[i : i + 120])
    stored = await store.equity_series("alpha", limit=1_000_000)
    assert len(stored) < len(truth)
    check_buckets(stored, truth)
    assert await store.delete_bot("alpha", purge_history=True)
    await store.save_bot(make.config("alpha"), BotStatus.RUNNING)  # type: ignore[attr-defined]
    await store.record_cycle("alpha", equity=truth[:5])
    assert await store.equity_series("alpha") == [(p.ts, p.equity) for p in truth[:5]]


async def test_a_curve_stored_unthinned_is_caught_up_a_week_per_write(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    truth = walk(60 * 288, 5 * MIN, seed=5)
    with monkeypatch.context() as m:
        m.setattr(thinning, "due", lambda last, newest: False)  # as stored before thinning
        await write(store, truth, 288)
    assert len(await store.equity_series("alpha", limit=1_000_000)) == len(truth)
    more = walk(60 * 288 + 1, 5 * MIN, seed=5)[-1:]  # the next point of the same walk
    truth += [EquityPoint("alpha", truth[-1].ts + 5 * MIN, more[0].equity, more[0].cash)]
    await store.record_cycle("alpha", equity=truth[-1:])
    first = await store.equity_series("alpha", limit=1_000_000)

    # one pass reads at most a week of each tier: days 0-7 were thinned per day and days
    # 30-37 per hour, while days 8-29 are still whole
    def whole(rows: list[tuple[int, Decimal]]) -> list[tuple[int, Decimal]]:
        return [r for r in rows if truth[0].ts + 8 * DAY <= r[0] < truth[0].ts + 29 * DAY]

    assert whole(first) == whole(truth_rows(truth))
    assert len(first) < len(truth) - 8 * 200
    check_buckets(first, truth)  # what it did thin, it thinned right
    for n in range(1, 12):  # each write makes one more pass while it is behind
        point = EquityPoint("alpha", truth[-1].ts + 5 * MIN, D(n), D(n))
        truth.append(point)
        await store.record_cycle("alpha", equity=[point])
    stored = await store.equity_series("alpha", limit=1_000_000)
    check_buckets(stored, truth)
    assert await store.day_open_equity("alpha") == day_open(truth)
    assert len(stored) <= 289 + 12 + 29 * 24 * 3 + 31 * 4
