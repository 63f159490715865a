"""Candles per second through the full engine cycle: MarketHub (CSV replay of a real 5m file),
indicators, strategy, risk manager, paper broker, portfolio and SQLite storage (WAL,
synchronous=FULL, on a temp file), for 1 and for 20 bots.

    python bench/engine_throughput.py [--candles 2000] [--runs 3] [--memory 1000000]
    python bench/engine_throughput.py --db postgresql+asyncpg://USER@HOST:PORT/DBNAME

``--db URL`` runs the same bench on PostgreSQL: each run gets a database of its own, created
through the URL's database and dropped after (the role needs CREATEDB; the URL's database
itself is not touched). The password as for oxbot: keyring or PGPASSFILE.

Rows: the built-ins (bots alternate sma_cross and rsi_reversion), and a user strategy that
defines only ``signals(frame)`` (no per-candle ``signal``: live trading reads the last row of
its frame). The same file runs against an older tree (copy it anywhere and run it with that
tree's Python: ``--data`` names the CSV when the file is not beside ../shared), so old and new
are measured on the same machine by the same code.

``--memory N`` replays N synthetic candles with one sma_cross bot and prints the process's
resident memory (RSS, /proc/self/status) every 100,000 candles: flat means the last sample is
within a few % of the one at 200,000.

Reports the median of the runs; the ratio 20 bots / 1 bot shows what sharing the hub buys.

Two times per row: the start-up (from ``engine.run()`` to the first candle's equity sample: the
store read, the CSV loaded, each stream's warm-up history and indicators seeded) and the replay
itself (first candle to last; candles/s is ``(candles - 1)`` over it). Until 2026-12-07 the
table gave one time from ``engine.run()`` to the end, start-up included: ``--whole`` prints
that figure too, to compare with the older rows of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from oxbot.engine.engine import Engine
from oxbot.engine.market.hub import MarketHub
from oxbot.engine.market.sim import SimConfig
from oxbot.engine.messages import EquitySampled
from oxbot.engine.models import BotConfig, BotStatus
from oxbot.engine.strategies import ENTER, EXIT, SMA, Strategy, StrategyParams, register
from oxbot.storage.store import Store

CSV = "binance_BTC-USDT_5m.csv"
HERE = Path(__file__).resolve()
PLACES = (
    *([HERE.parents[2] / "shared" / "data" / "ohlcv" / CSV] if len(HERE.parents) > 2 else []),
    Path("/work/shared/data/ohlcv") / CSV,
)


class BenchSignalsOnly(Strategy):
    """A user strategy with only ``signals``: the close crossing SMA20 (up: enter, down: exit)."""

    name = "bench_signals_only"
    Params = StrategyParams

    def indicators(self) -> list[Any]:
        return [SMA(20)]

    def signals(self, frame: pd.DataFrame) -> np.ndarray:
        above = (frame["close"] > frame["sma_20"]).to_numpy()
        out = np.zeros(len(frame), dtype=np.int8)
        out[1:][~above[:-1] & above[1:]] = ENTER
        out[1:][above[:-1] & ~above[1:]] = EXIT
        return out


register(BenchSignalsOnly)


def bot_config(i: int, kind: str) -> BotConfig:
    if kind == "user":
        strat, params = "bench_signals_only", {}
    elif i % 2 == 0:
        strat, params = "sma_cross", {"fast": 10 + i % 5, "slow": 30 + i % 7}
    else:
        strat, params = "rsi_reversion", {"length": 14}
    return BotConfig(name=f"b{i}", strategy=strat, params=params, timeframe="5m")


class Run:
    """One replay's figures: ``whole`` (engine start to end), ``startup`` (to the first
    candle's equity sample) and ``replay`` (first sample to last), in seconds."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.first = self.last = 0.0
        self.whole = 0.0

    def sampled(self, ev: Any) -> None:
        if type(ev) is EquitySampled:
            now = time.perf_counter()
            self.first = self.first or now
            self.last = now

    @property
    def startup(self) -> float:
        return self.first - self.t0

    @property
    def replay(self) -> float:
        return self.last - self.first


@contextlib.asynccontextmanager
async def fresh_database(url: str | None) -> AsyncIterator[str | Path]:
    """A temp SQLite file, or (``url``) a new PostgreSQL database beside the URL's, dropped
    after."""
    if url is None:
        with tempfile.TemporaryDirectory() as d:
            yield Path(d) / "bench.db"
        return
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from oxbot.storage import pg

    where = pg.PgUrl.parse(url)
    password = pg.password_for(where)
    admin = create_async_engine(
        where.url,
        isolation_level="AUTOCOMMIT",
        connect_args={} if password is None else {"password": password},
    )
    name = f"oxbot_bench_{os.getpid()}_{next(_RUN)}"
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f"CREATE DATABASE {name}"))
        try:
            yield where.url.set(database=name).render_as_string(hide_password=False)
        finally:
            async with admin.connect() as conn:
                await conn.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
    finally:
        await admin.dispose()


_RUN = itertools.count()


async def one_run(
    bots: int,
    candles: int,
    data: Path | None,
    kind: str = "builtin",
    memory: bool = False,
    db: str | None = None,
) -> tuple[Run, int, list[tuple[int, float]]]:
    """(times, fills, [(candles, RSS MB)] every 100,000 candles when ``memory``)."""
    samples: list[tuple[int, float]] = []
    async with fresh_database(db) as where:
        store = await Store.open(where)
        csv = {} if data is None else {"BTC/USDT": str(data)}
        hub = MarketHub(SimConfig(speed=None, max_candles=candles, csv=csv, seed=7))
        # Every bot is stored (running) before the replay starts, so all of them trade every
        # candle and the fills are the same run to run.
        for i in range(bots):
            await store.save_bot(bot_config(i, kind), BotStatus.RUNNING)
        engine = Engine(store, hub, snapshot_every_s=None)
        times = Run()
        engine.bus.listen(times.sampled)
        run = asyncio.create_task(engine.run())
        await engine.ready.wait()
        next_sample = 100_000
        while not hub._streams or not all(s.ended for s in hub._streams.values()):
            await asyncio.sleep(0.01)
            if memory and hub._streams:
                done = max(s.live_candles for s in hub._streams.values())
                if done >= next_sample:
                    samples.append((next_sample, rss_mb()))
                    print(f"  {next_sample:>9,} candles: RSS {samples[-1][1]:.1f} MB", flush=True)
                    next_sample += 100_000
        times.whole = time.perf_counter() - times.t0
        fills = sum([await store.fill_count(f"b{i}") for i in range(bots)])
        engine.request_stop()
        await run
        await store.close()
    return times, fills, samples


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--candles", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--data", type=Path, default=next((p for p in PLACES if p.exists()), None))
    ap.add_argument("--memory", type=int, default=0, help="candles of the memory replay (0: none)")
    ap.add_argument("--rows", default="builtin:1,builtin:20,user:1,user:20")
    ap.add_argument("--whole", action="store_true", help="also the old figure: start-up included")
    ap.add_argument("--db", help="a PostgreSQL URL: run on a fresh database of that server")
    args = ap.parse_args()
    if args.memory:
        times, fills, samples = asyncio.run(one_run(1, args.memory, None, memory=True))
        t = times.whole
        first = next((mb for n, mb in samples if n == 200_000), samples[0][1])
        print(
            f"memory: {args.memory:,} candles in {t:.0f} s ({args.memory / t:,.0f}/s), "
            f"{fills} fills; RSS at 200k {first:.1f} MB, last {samples[-1][1]:.1f} MB "
            f"({100 * (samples[-1][1] / first - 1):+.1f} %)"
        )
        return
    if args.data is None or not args.data.exists():
        raise SystemExit(f"missing {CSV}: pass --data, the benchmark needs real candles")
    whole = " whole s | whole candles/s |" if args.whole else ""
    print(
        "| strategy | bots | candles | start-up s | replay s | candles/s | bot-cycles/s |"
        f"{whole} fills |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|" + ("---:|---:|" if args.whole else "") + "---:|")
    for row in args.rows.split(","):
        kind, n = row.split(":")
        bots = int(n)
        runs, fills = [], 0
        for _ in range(args.runs):
            times, fills, _ = asyncio.run(one_run(bots, args.candles, args.data, kind, db=args.db))
            runs.append(times)
        up = statistics.median(r.startup for r in runs)
        med = statistics.median(r.replay for r in runs)
        rate = (args.candles - 1) / med
        what = "sma_cross/rsi_reversion" if kind == "builtin" else "signals-only user strategy"
        extra = ""
        if args.whole:
            w = statistics.median(r.whole for r in runs)
            extra = f" {w:.2f} | {args.candles / w:,.0f} |"
        print(
            f"| {what} | {bots} | {args.candles:,} | {up:.2f} | {med:.2f} | {rate:,.0f} | "
            f"{bots * rate:,.0f} |{extra} {fills} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
