"""A bot's schedule through the whole engine on the sim market's virtual clock: cron cadence
(5 fields, and 6 with seconds first), run_on_start, and the retry policy of a failed cycle.

What the tests rely on, read in the code:
- engine/market/hub.py (the lockstep loop): each candle reaches a bot as its four ticks at
  open + 0, 1/4, 2/4 and 3/4 of the timeframe, then its bar at the close time.
- engine/bot.py ``_act``: every cycle that decides publishes one DecisionMade stamped with
  the cycle's market time.
- croniter (``second_at_beginning=True``) reads a 6-field expression with seconds first; its
  times for a float start are UTC (checked below on a date of a European DST change).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from oxbot.engine.engine import Engine, rule_strategy_factory
from oxbot.engine.market.hub import MarketHub
from oxbot.engine.market.sim import SimConfig
from oxbot.engine.messages import AddBot, CycleFailed, DecisionMade, PauseBot, ResumeBot
from oxbot.engine.models import BotConfig, BotStatus, Decision
from oxbot.engine.strategies import DecisionContext, Strategy
from oxbot.storage.store import Store

from .conftest import Harness


class FakeClock:
    """The engine's Clock port, fixed: nothing here may read wall time (the bot's schedule
    runs on the market's virtual time)."""

    def __init__(self, ms: int) -> None:
        self.ms = ms

    def now_ms(self) -> int:
        return self.ms


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def engine_at(store: Store, start: str, candles: int, **kw: Any) -> Engine:
    t0 = ms(start)
    hub = MarketHub(SimConfig(seed=5, start_ts=t0, speed=None, max_candles=candles))
    return Engine(store, hub, snapshot_every_s=None, clock=FakeClock(t0), **kw)


def cfg(name: str = "b", **kw: Any) -> BotConfig:
    return BotConfig(name=name, symbols=("BTC/USDT",), capital=Decimal("10000"), **kw)


async def decisions(store: Store, engine: Engine, config: BotConfig) -> tuple[list[int], Harness]:
    h = Harness(engine)
    await h.start()
    done = await h.do(AddBot(config=config, start=True))
    assert done.ok, done.message
    await h.finish_market()
    await h.stop()
    return [e.ts for e in h.of(DecisionMade) if e.bot == config.name], h


def iso(ts: int) -> str:
    return datetime.fromtimestamp(ts / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


async def test_cron_with_seconds_decides_on_the_ticks_at_its_times(store: Store) -> None:
    # 1m candles: inputs every 15 s, so every 30 s time of the cron has an input at it.
    engine = engine_at(store, "2024-01-10T12:00:00", 20)
    got, _ = await decisions(store, engine, cfg(timeframe="1m", cron="*/30 * * * * *"))
    assert len(got) > 20
    assert all(ts % 30_000 == 0 for ts in got), [iso(t) for t in got]
    assert all(b - a == 30_000 for a, b in zip(got, got[1:], strict=False)), [iso(t) for t in got]


async def test_cron_every_fifth_minute_at_second_zero(store: Store) -> None:
    engine = engine_at(store, "2024-01-10T12:00:00", 40)
    got, _ = await decisions(store, engine, cfg(timeframe="1m", cron="0 */5 * * * *"))
    assert got and all(ts % 300_000 == 0 for ts in got), [iso(t) for t in got]
    assert all(b - a == 300_000 for a, b in zip(got, got[1:], strict=False))


async def test_cron_time_between_inputs_decides_at_the_first_input_after_it(
    store: Store,
) -> None:
    # Second 40 of every 2nd minute: 1m inputs come at :00 :15 :30 :45, so :45.
    engine = engine_at(store, "2024-01-10T12:00:00", 20)
    got, _ = await decisions(store, engine, cfg(timeframe="1m", cron="40 */2 * * * *"))
    assert got
    assert all(iso(t).endswith(":45") for t in got), [iso(t) for t in got]
    assert all(datetime.fromtimestamp(t / 1000, UTC).minute % 2 == 0 for t in got)


async def test_cron_across_a_month_end(store: Store) -> None:
    # 1h candles from 29 Feb 2024 (a leap day) to 3 Mar; ticks at :00 :15 :30 :45.
    engine = engine_at(store, "2024-02-29T20:00:00", 80)
    got, _ = await decisions(store, engine, cfg(timeframe="1h", cron="0 0 0 1 * *"))
    assert [iso(t) for t in got] == ["2024-03-01 00:00:00"]


async def test_cron_on_a_dst_date_stays_utc(store: Store) -> None:
    # 31 Mar 2024: Europe's clocks jump 01:00 -> 02:00 UTC; a UTC cron does not notice.
    engine = engine_at(store, "2024-03-30T00:00:00", 72)
    got, _ = await decisions(store, engine, cfg("d", timeframe="1h", cron="30 2 * * *"))
    assert [iso(t) for t in got] == [
        "2024-03-30 02:30:00",
        "2024-03-31 02:30:00",
        "2024-04-01 02:30:00",
    ]


async def test_without_cron_the_cadence_is_unchanged(store: Store) -> None:
    engine = engine_at(store, "2024-01-10T12:00:00", 12)
    got, _ = await decisions(store, engine, cfg(timeframe="1m", cadence_s=180))
    assert len(got) >= 3
    assert all(b - a == 180_000 for a, b in zip(got, got[1:], strict=False))
    assert all(ts % 60_000 == 0 for ts in got)  # candle closes only


YEARLY = "0 0 0 1 1 *"


async def test_a_yearly_cron_without_run_on_start_waits(store: Store) -> None:
    engine = engine_at(store, "2024-05-10T12:00:00", 15)
    got, _ = await decisions(store, engine, cfg("quiet", timeframe="1m", cron=YEARLY))
    assert got == []


async def test_run_on_start_decides_at_once_on_start_and_resume(store: Store) -> None:
    # the market runs on until stopped: on a busy machine it must not end before the resume
    engine = engine_at(store, "2024-05-10T12:00:00", 100_000)
    h = Harness(engine)
    await h.start()
    done = await h.do(AddBot(config=cfg("eager", cron=YEARLY, run_on_start=True), start=True))
    assert done.ok, done.message
    runner = engine.runners["eager"]
    await h.drain(lambda: bool(h.of(DecisionMade)))
    first = h.of(DecisionMade)[0].ts
    assert (await h.do(PauseBot(name="eager"))).ok
    assert (await h.do(ResumeBot(name="eager"))).ok
    resumed_at = runner.bar_ts["BTC/USDT"]  # the newest close the bot had seen
    await h.drain(lambda: len(h.of(DecisionMade)) >= 2)
    second = h.of(DecisionMade)[1].ts
    await h.stop()
    assert len(h.of(DecisionMade)) == 2, [iso(e.ts) for e in h.of(DecisionMade)]
    assert second > first
    # after the resume, at the next input: no later than the next candle's close
    assert second <= resumed_at + 60_000, (iso(second), iso(resumed_at))


class Flaky(Strategy):
    """sma_cross's signals, but ``decide`` raises for its first ``fails`` calls."""

    name = "flaky"

    def __init__(self, fails: int) -> None:
        self.inner = rule_strategy_factory(cfg())
        super().__init__(self.inner.params)
        self.fails = fails
        self.calls: list[int] = []

    def indicators(self) -> list[Any]:
        return self.inner.indicators()

    def signals(self, frame: Any) -> Any:
        return self.inner.signals(frame)

    async def decide(self, ctx: DecisionContext) -> Decision:
        self.calls.append(ctx.ts)
        if len(self.calls) <= self.fails:
            raise RuntimeError(f"boom {len(self.calls)}")
        return await super().decide(ctx)


@pytest.mark.parametrize(
    ("delay_s", "expect_gap"),
    [(0, 300_000), (30, 30_000)],  # 0: at the next due time, as before; else after the delay
)
async def test_retry_delay(store: Store, delay_s: int, expect_gap: int) -> None:
    flaky = Flaky(fails=1)
    engine = engine_at(store, "2024-01-10T12:00:00", 30, strategy_factory=lambda _c: flaky)
    config = cfg(timeframe="1m", cadence_s=300, retry_delay_s=delay_s)
    got, h = await decisions(store, engine, config)
    assert len(h.of(CycleFailed)) == 1
    assert flaky.calls[1] - flaky.calls[0] == expect_gap, [iso(t) for t in flaky.calls]
    assert got[0] == flaky.calls[1]


async def test_retry_attempts_put_the_bot_in_error(store: Store) -> None:
    flaky = Flaky(fails=1000)
    engine = engine_at(store, "2024-01-10T12:00:00", 20, strategy_factory=lambda _c: flaky)
    config = cfg(timeframe="1m", retry_attempts=3)
    got, h = await decisions(store, engine, config)
    assert got == []
    assert [e.consecutive for e in h.of(CycleFailed)] == [1, 2, 3]
    assert engine.runners["b"].status is BotStatus.ERROR


def test_cron_is_validated() -> None:
    assert cfg(cron=" */30  * * * * * ").cron == "*/30 * * * * *"
    for bad in ("* * * *", "61 * * * * *", "every minute", "* * * * * * * *"):
        with pytest.raises(ValueError, match="cron"):
            cfg(cron=bad)
