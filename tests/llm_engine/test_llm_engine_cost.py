"""Cost and cadence inside the running engine: a daily budget pauses the bot (a notice, the
stored status) and no request reaches the provider after it; trigger cadence on a quiet market
calls the model less often than the interval and counts the calls it saved."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from oxbot.engine.messages import (
    AddBot,
    BotStateChanged,
    CycleFailed,
    Notice,
    ResumeBot,
)
from oxbot.engine.models import BotStatus
from oxbot.storage.store import Store

from .conftest import (
    START,
    USAGE,
    Harness,
    Reply,
    call,
    call_cost,
    llm_bot,
    make_engine,
    reply,
)

HOLD_BOTH = reply(call("BTC/USDT", "hold"), call("ETH/USDT", "hold"))


def paused_views(h: Harness, bot: str) -> list[Any]:
    return [
        e
        for e in h.of(BotStateChanged)
        if e.bot is not None and e.bot.name == bot and e.bot.status is BotStatus.PAUSED
    ]


async def test_budget_reached_pauses_the_bot_and_stops_calls(
    store: Store, tmp_path: Path, fake_llm: Any, harness: Any
) -> None:
    fake_llm.handler = lambda _seen: Reply(HOLD_BOTH)
    budget = Decimal("0.001")
    per_call = call_cost(*USAGE)  # $0.000429
    # The budget is checked before each call: calls go out until spend >= budget.
    allowed = next(n for n in range(1, 100) if n * per_call >= budget)
    assert allowed == 3
    engine = make_engine(store, tmp_path, max_candles=40)
    h = harness(engine)
    await h.start()
    cfg = llm_bot("thrifty", fake_llm.url, daily_budget_usd=str(budget))
    assert (await h.do(AddBot(config=cfg, start=True))).ok
    await h.drain(lambda: bool(paused_views(h, "thrifty")), timeout=15)
    runner = engine.runners["thrifty"]
    assert runner.status is BotStatus.PAUSED
    assert len(fake_llm.requests) == allowed

    # Resuming the same day does not buy more calls: the next cycle pauses it again, unasked.
    assert (await h.do(ResumeBot(name="thrifty"))).ok
    await h.drain(lambda: len(paused_views(h, "thrifty")) >= 2, timeout=15)
    await h.finish_market()
    spent = runner.strategy.stats["cost_today"]
    stored = [s for c, s in await store.load_bots() if c.name == "thrifty"]
    await h.stop()

    assert len(fake_llm.requests) == allowed  # nothing after the budget, to the very end
    assert not h.of(CycleFailed)
    notices = [n for n in h.of(Notice) if n.bot == "thrifty"]
    assert len(notices) == 2
    assert all(
        n.level == "warning" and "daily LLM budget" in n.message and "daily_budget_usd" in n.message
        for n in notices
    )
    assert spent == per_call * allowed >= budget
    # The pause is not stored: a restart finds the bot running and its first cycle checks
    # the budget again (test_budget_survives_an_engine_restart); the next day it decides.
    assert stored == [BotStatus.RUNNING]
    rows = await store.recent_decisions("thrifty", 100)
    assert len(rows) == allowed and sum(r.cost for r in rows) == spent


async def test_trigger_cadence_saves_calls_on_a_quiet_market(
    store: Store, tmp_path: Path, fake_llm: Any, fake_llm2: Any, harness: Any
) -> None:
    fake_llm.handler = fake_llm2.handler = lambda _seen: Reply(HOLD_BOTH, delay_s=0)
    candles = 60
    # Both bots stored as running before the engine starts, so both see every candle.
    await store.save_bot(llm_bot("every", fake_llm.url), BotStatus.RUNNING)
    await store.save_bot(
        llm_bot("trig", fake_llm2.url, cadence="trigger", trigger_move_pct=1.0), BotStatus.RUNNING
    )
    engine = make_engine(store, tmp_path, max_candles=candles)
    h = harness(engine)
    await h.start()
    await h.finish_market()
    stats = dict(engine.runners["trig"].strategy.stats)
    view = next(b for b in engine.snapshot().bots if b.name == "trig")
    await h.stop()

    interval_calls, trigger_calls = len(fake_llm.requests), len(fake_llm2.requests)
    assert interval_calls == candles  # one decision per closed candle
    assert 1 <= trigger_calls < interval_calls / 2
    assert stats["calls_saved"] == interval_calls - trigger_calls
    assert view.llm.calls_saved == stats["calls_saved"]
    assert stats["llm_calls"] == trigger_calls
    assert len(await store.recent_decisions("trig", 1000)) == trigger_calls
    assert stats["last_trigger"]  # each call the trigger bot made names why it fired


async def test_budget_survives_an_engine_restart(
    store: Store, tmp_path: Path, fake_llm: Any, harness: Any
) -> None:
    fake_llm.handler = lambda _seen: Reply(HOLD_BOTH)
    budget = Decimal("0.001")  # three calls at $0.000429
    await store.save_bot(
        llm_bot("thrifty", fake_llm.url, daily_budget_usd=str(budget)), BotStatus.RUNNING
    )
    first = harness(make_engine(store, tmp_path, max_candles=10))
    await first.start()
    await first.drain(lambda: bool(paused_views(first, "thrifty")), timeout=15)
    await first.stop()
    assert len(fake_llm.requests) == 3

    second = harness(make_engine(store, tmp_path, max_candles=10))
    await second.start()
    await second.finish_market(timeout=15)
    runner = second.engine.runners["thrifty"]
    assert runner.status is BotStatus.PAUSED  # by its first cycle, before any call
    assert (await second.do(ResumeBot(name="thrifty"))).ok
    await second.stop()
    assert len(fake_llm.requests) == 3  # today's budget was already spent
    notices = [n for n in second.of(Notice) if n.bot == "thrifty"]
    assert notices and "daily LLM budget" in notices[0].message


class DayFlipClock:
    """The engine's wall clock: 23:58 UTC until the sim market reaches ``flip_ms``, then
    00:01 UTC of the next day (the budget's day is the wall clock's, not the market's)."""

    def __init__(self, flip_ms: int) -> None:
        self.flip_ms = flip_ms
        self.hub: Any = None
        self.before = 1_767_225_480_000  # 2025-12-31 23:58 UTC
        self.after = self.before + 3 * 60_000  # 2026-01-01 00:01 UTC

    def now_ms(self) -> int:
        virtual = (self.hub.virtual_ms if self.hub is not None else None) or 0
        return self.after if virtual >= self.flip_ms else self.before


async def test_budget_pause_resumes_at_the_new_utc_day(
    store: Store, tmp_path: Path, fake_llm: Any, harness: Any
) -> None:
    # The notice promises "decides again after 00:00 UTC": it must, without a restart.
    fake_llm.handler = lambda _seen: Reply(HOLD_BOTH)
    clock = DayFlipClock(flip_ms=START + 15 * 60_000)
    engine = make_engine(store, tmp_path, max_candles=30, clock=clock)
    clock.hub = engine.hub
    h = harness(engine)
    await h.start()
    cfg = llm_bot("thrifty", fake_llm.url, daily_budget_usd="0.001")  # three calls a day
    assert (await h.do(AddBot(config=cfg, start=True))).ok
    await h.finish_market(timeout=30)
    runner = engine.runners["thrifty"]
    await h.stop()

    notices = [n.message for n in h.of(Notice) if n.bot == "thrifty"]
    assert len(fake_llm.requests) == 6  # three on the first day, three on the next
    assert [("paused" in m, "resumed" in m) for m in notices] == [
        (True, False),
        (False, True),
        (True, False),
    ]
    assert "new UTC day" in notices[1]
    assert runner.status is BotStatus.PAUSED
    assert runner.strategy.stats["day"] == "2026-01-01"
