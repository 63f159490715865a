"""A long max-speed replay stores equity rows by the bucket, not by the candle (storage/
thinning.py), while the newest 24 h of each bot stay whole and the chart's history keeps the
curve's first and last values and its extremes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from oxbot.engine.messages import EquityHistory, RequestEquityHistory
from oxbot.engine.models import BotConfig, BotStatus, EquityPoint, RiskState
from oxbot.storage import thinning
from oxbot.storage.store import Store

from .conftest import Harness, make_engine

CANDLES = 3_000  # 5-minute candles: 10.4 days of the bots' time
BOTS = 3


class Recorder:
    """The real Store, noting every equity sample the engine hands it (the full curve)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.points: dict[str, list[EquityPoint]] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def _note(self, bot: str, equity: Sequence[EquityPoint]) -> None:
        self.points.setdefault(bot, []).extend(equity)

    async def record_cycle(self, bot: str, *args: Any, **kw: Any) -> list[bool]:
        self._note(bot, kw.get("equity", ()))
        return await self._store.record_cycle(bot, *args, **kw)

    async def save_risk_state(
        self, bot: str, state: RiskState, equity: Sequence[EquityPoint] = ()
    ) -> None:
        self._note(bot, equity)
        await self._store.save_risk_state(bot, state, equity)


@pytest.mark.slow
async def test_a_long_replay_keeps_rows_per_bucket_and_the_charts_extremes(store: Store) -> None:
    for i in range(BOTS):
        strategy, params = (
            ("sma_cross", {"fast": 5 + i, "slow": 20})
            if i % 2 == 0
            else (
                "rsi_reversion",
                {"length": 14},
            )
        )
        config = BotConfig(name=f"b{i}", strategy=strategy, params=params, timeframe="5m")
        await store.save_bot(config, BotStatus.RUNNING)
    recorder = Recorder(store)
    engine = make_engine(recorder, max_candles=CANDLES)
    h = Harness(engine)
    await h.start()
    await h.finish_market(timeout=600)
    for name in [f"b{i}" for i in range(BOTS)]:
        await h.do(RequestEquityHistory(bot=name, limit=5_000))
    await h.stop()  # flushes what the bots still buffer

    charts = {e.bot: e.points for e in h.of(EquityHistory)}
    for name in [f"b{i}" for i in range(BOTS)]:
        truth = recorder.points[name]
        assert len(truth) >= CANDLES  # one sample per candle reached the store
        stored = await store.equity_series(name, limit=1_000_000)
        newest = truth[-1].ts
        # bounded by the buckets: 24 h whole (30 h, 360 candles, before the next pass), then
        # at most 3 rows an hour, and each day's first
        days = (newest - truth[0].ts) / thinning.DAY_MS
        bound = 361 + int((days - 1) * 24 + 2) * 3 + int(days) + 2
        assert len(stored) <= bound < len(truth) * 0.6, (name, len(stored), len(truth))
        recent = [(p.ts, p.equity) for p in truth if p.ts > newest - thinning.FULL_MS]
        assert stored[-len(recent) :] == recent  # the newest 24 h complete
        # the chart (answered while the bots were idle, before the last flush) has the curve's
        # first value, its extremes and the last value stored by then
        chart = charts[name]
        shown = [p for p in truth if p.ts <= chart[-1][0]]
        values = [e for _, e in chart]
        assert chart[0] == (truth[0].ts, truth[0].equity)
        assert chart[-1] == (shown[-1].ts, shown[-1].equity)
        assert min(values) == min(p.equity for p in shown)
        assert max(values) == max(p.equity for p in shown)
        # what a restart reads: the newest point and today's opening equity
        day = newest // thinning.DAY_MS * thinning.DAY_MS
        opened = next(p.equity for p in truth if p.ts >= day)
        assert await store.day_open_equity(name) == (day, opened)
        assert stored[-1] == (newest, truth[-1].equity)
