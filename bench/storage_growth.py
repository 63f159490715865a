"""Database growth per simulated day: 20 bots on the sim market's 5-minute candles at max speed
(lockstep), with the equity points thinned by age (storage/thinning.py) and without (every
sample kept, as before issue 13).

    python bench/storage_growth.py [--days 4,12] [--bots 20] [--runs 3]

Each run replays ``days`` of candles into a fresh database and closes it (so the WAL is folded
in); the growth per day is the difference between the longest and the shortest replay, divided
by the days between (the first day's fixed costs cancel out). Medians of the runs.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import tempfile
from pathlib import Path

from oxbot.engine.engine import Engine
from oxbot.engine.market.hub import MarketHub
from oxbot.engine.market.sim import SimConfig
from oxbot.engine.models import BotConfig, BotStatus
from oxbot.storage import thinning
from oxbot.storage.store import Store

CANDLES_PER_DAY = 288  # 5-minute candles
START = 1_700_000_000_000 // 86_400_000 * 86_400_000


async def one_run(bots: int, days: int) -> tuple[int, int, int]:
    """(equity rows, all rows, bytes) after ``days`` simulated days."""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "growth.db"
        store = await Store.open(path)
        for i in range(bots):  # stored before the replay starts: all of them see every candle
            strat, params = (
                ("sma_cross", {"fast": 10 + i % 5, "slow": 30 + i % 7})
                if i % 2 == 0
                else ("rsi_reversion", {"length": 14})
            )
            config = BotConfig(name=f"b{i}", strategy=strat, params=params, timeframe="5m")
            await store.save_bot(config, BotStatus.RUNNING)
        sim = SimConfig(seed=7, start_ts=START, speed=None, max_candles=days * CANDLES_PER_DAY)
        hub = MarketHub(sim)
        engine = Engine(store, hub, snapshot_every_s=None)
        run = asyncio.create_task(engine.run())
        await engine.ready.wait()
        while not hub._streams or not all(s.ended for s in hub._streams.values()):
            await asyncio.sleep(0.05)
        for r in engine.runners.values():
            await r.inbox.join()
        engine.request_stop()
        await run  # the bots flush what they buffered
        await store.close()
        conn = sqlite3.connect(path)
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        counts = {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
        conn.close()
        size = sum(p.stat().st_size for p in Path(d).iterdir() if p.name.startswith("growth.db"))
        return counts["equity_points"], sum(counts.values()), size


def measure(bots: int, days: int, runs: int, thin: bool) -> tuple[float, float, float]:
    due = thinning.due
    if not thin:
        thinning.due = lambda last, newest: False  # every sample kept: the old behaviour
    try:
        results = [asyncio.run(one_run(bots, days)) for _ in range(runs)]
    finally:
        thinning.due = due
    return tuple(statistics.median(r[i] for r in results) for i in range(3))  # type: ignore[return-value]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", default="4,12", help="two or more replay lengths, in days")
    ap.add_argument("--bots", type=int, default=20)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    lengths = sorted(int(x) for x in args.days.split(","))
    short, long = lengths[0], lengths[-1]
    for thin in (False, True):
        label = "thinned" if thin else "every sample"
        got = {d: measure(args.bots, d, args.runs, thin) for d in lengths}
        for d in lengths:
            eq, rows, size = got[d]
            print(
                f"{label:>12}: {args.bots} bots x {d} days: {eq:,.0f} equity rows of "
                f"{rows:,.0f}, {size / 1e6:.1f} MB (median of {args.runs})"
            )
        span = long - short
        eq = (got[long][0] - got[short][0]) / span
        rows = (got[long][1] - got[short][1]) / span
        size = (got[long][2] - got[short][2]) / span
        print(
            f"{label:>12}: per simulated day (days {short}-{long}): {eq:,.0f} equity rows "
            f"({eq / args.bots:,.0f} per bot), {rows:,.0f} rows in all, {size / 1e6:.2f} MB"
        )


if __name__ == "__main__":
    main()
