"""Candles per second through the full engine cycle: MarketHub (CSV replay of a real 5m file),
indicators (pandas-ta), strategy, risk manager, paper broker, portfolio and SQLite storage
(WAL, synchronous=FULL, on a temp file), for 1 and for 20 bots.

    python bench/engine_throughput.py [--candles 3000] [--runs 3]

Reports the median of the runs; the ratio 20 bots / 1 bot shows what sharing the hub buys
(one fetch and one indicator frame per candle, however many bots read it).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from oxbot.engine.engine import Engine
from oxbot.engine.market.hub import MarketHub
from oxbot.engine.market.sim import SimConfig
from oxbot.engine.models import BotConfig, BotStatus
from oxbot.storage.store import Store

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ohlcv" / "binance_BTC-USDT_5m.csv"


async def one_run(bots: int, candles: int) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as d:
        store = await Store.open(Path(d) / "bench.db")
        hub = MarketHub(SimConfig(speed=None, max_candles=candles, csv={"BTC/USDT": str(DATA)}))
        # Every bot is stored (running) before the replay starts, so all of them trade every
        # candle and the fills are the same run to run. (Adding them with AddBot once the engine
        # ran let the replay start first: bots joined a few candles apart, ~82 % of the reported
        # bot cycles happened and the fill count varied.)
        for i in range(bots):
            strat, params = (
                ("sma_cross", {"fast": 10 + i % 5, "slow": 30 + i % 7})
                if i % 2 == 0
                else ("rsi_reversion", {"length": 14})
            )
            config = BotConfig(name=f"b{i}", strategy=strat, params=params, timeframe="5m")
            await store.save_bot(config, BotStatus.RUNNING)
        engine = Engine(store, hub, snapshot_every_s=None)
        t0 = time.perf_counter()
        run = asyncio.create_task(engine.run())
        await engine.ready.wait()
        while not hub._streams or not all(s.ended for s in hub._streams.values()):
            await asyncio.sleep(0.01)
        elapsed = time.perf_counter() - t0
        fills = sum([await store.fill_count(f"b{i}") for i in range(bots)])
        engine.request_stop()
        await run
        await store.close()
    return elapsed, fills


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--candles", type=int, default=3000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    if not DATA.exists():
        raise SystemExit(f"missing {DATA}: the benchmark needs ../shared/data/ohlcv")
    rows = {}
    for bots in (1, 20):
        times, fills = [], 0
        for _ in range(args.runs):
            t, fills = asyncio.run(one_run(bots, args.candles))
            times.append(t)
        med = statistics.median(times)
        rows[bots] = med
        print(
            f"{bots:>2} bot(s): {args.candles} candles in {med:.2f} s (median of {args.runs}) "
            f"= {args.candles / med:,.0f} candles/s, {bots * args.candles / med:,.0f} "
            f"bot-cycles/s, {fills} fills"
        )
    print(f"time ratio 20 bots / 1 bot: {rows[20] / rows[1]:.2f} (20 x the bots)")


if __name__ == "__main__":
    main()
