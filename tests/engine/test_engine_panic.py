"""PANIC acts at once, whatever else is in flight; decisions can be held while a person decides;
a stop asks what to do with open positions.

The slow paths are real awaits on the engine loop: a broker whose ``execute`` waits on an event
(an order in flight at an exchange that has not answered yet) and one whose ``start`` does (a
LIVE start waiting on the exchange: key, lock, settle, reconcile). The engine's command loop used
to await each command before reading the next, so a PANIC queued behind such a command waited for
it; PANIC's own stop also waited for every bot's in-flight order before closing anything.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

from oxbot.engine.broker import Broker, Execution
from oxbot.engine.messages import (
    AddBot,
    CommandDone,
    DecisionMade,
    EquitySampled,
    HoldDecisions,
    Notice,
    OrderFilled,
    PanicAll,
    StartBot,
    StopBot,
    UpdateBot,
)
from oxbot.engine.models import BotConfig, BotStatus, OrderIntent
from oxbot.engine.paper import PaperBroker
from oxbot.engine.strategies import Strategy
from oxbot.storage.store import Store

from .conftest import Harness, make_engine
from .test_engine_commands import cfg, factory


class GatedBroker(PaperBroker):
    """Paper fills, but once ``armed`` an order waits for ``gate``: in flight, unanswered."""

    def __init__(self) -> None:
        super().__init__()
        self.armed = False
        self.gate = asyncio.Event()
        self.waiting = asyncio.Event()
        self.slow_orders_done = 0

    async def execute(self, intent: OrderIntent, ref_price: Decimal, ts: int) -> Execution:
        if self.armed and not self.gate.is_set():
            self.waiting.set()
            await self.gate.wait()
            self.slow_orders_done += 1
        return await super().execute(intent, ref_price, ts)


class SlowStartBroker(PaperBroker):
    """Paper fills; ``start`` (what Engine._prepare awaits before a bot runs) waits for ``gate``."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.starting = asyncio.Event()

    async def start(self, _runner: Any) -> None:
        self.starting.set()
        await self.gate.wait()


def brokers(special: dict[str, Broker]) -> Any:
    def make(config: BotConfig) -> Broker:
        return special.get(config.name) or PaperBroker(config.fee_rate, config.slippage_bps)

    return make


@contextlib.asynccontextmanager
async def running(h: Harness, *gates: asyncio.Event) -> AsyncIterator[Harness]:
    """The engine, started; on the way out every gate opens and the engine stops, so a test
    that fails (the old engine waited on the gate forever) ends instead of hanging."""
    await h.start()
    try:
        yield h
    finally:
        for gate in gates:
            gate.set()
        await h.stop()


def buyer(name: str, **kw: Any) -> BotConfig:
    return cfg(name, strategy="always_buy", params={}, **kw)


async def test_panic_answers_before_another_bots_order_in_flight_ends(store: Store) -> None:
    slow = GatedBroker()
    h = Harness(
        make_engine(
            store,
            max_candles=None,
            strategy_factory=factory,
            broker_factory=brokers({"slow": slow}),
        )
    )
    async with running(h, slow.gate):
        for name in ("b", "c"):
            assert (await h.do(AddBot(config=buyer(name), start=True))).ok
        runners = h.engine.runners
        await h.drain(lambda: all(runners[n].portfolio.positions for n in ("b", "c")))
        slow.armed = True
        assert (await h.do(AddBot(config=buyer("slow"), start=True))).ok
        await h.drain(slow.waiting.is_set)  # its first buy is at the exchange, unanswered
        # what a PANIC dialog would count now: every open position
        shown = sum(len(r.portfolio.positions) for r in runners.values())
        assert shown == 2

        done = await asyncio.wait_for(h.do(PanicAll()), 15)  # the whole answer

        assert done.ok, done.message
        assert not slow.gate.is_set() and slow.slow_orders_done == 0  # still in flight
        assert done.message.startswith("PANIC done: 3 bots stopped, 2 positions closed")
        assert "slow: an order is still in flight" in done.message
        assert all(r.status is BotStatus.STOPPED for r in runners.values())
        assert not runners["b"].portfolio.positions and not runners["c"].portfolio.positions

        slow.gate.set()  # the exchange answers: the order fills, and PANIC closes what it opened
        await h.drain(lambda: any(isinstance(e, Notice) and e.bot == "slow" for e in h.events))
        note = next(e for e in h.events if isinstance(e, Notice) and e.bot == "slow")
        assert note.message == "PANIC: slow's order in flight settled; 1 position closed"
        assert not runners["slow"].portfolio.positions
        assert await store.load_positions("slow") == {}
        fills = [
            (e.side, e.reason) for e in h.events if isinstance(e, OrderFilled) and e.bot == "slow"
        ]
        assert fills == [("buy", "entry"), ("sell", "flatten")]


async def test_panic_is_not_queued_behind_a_slow_start_which_then_does_not_start(
    store: Store,
) -> None:
    slow = SlowStartBroker()
    h = Harness(
        make_engine(
            store,
            max_candles=None,
            strategy_factory=factory,
            broker_factory=brokers({"slow": slow}),
        )
    )
    async with running(h, slow.gate):
        assert (await h.do(AddBot(config=buyer("b"), start=True))).ok
        assert (await h.do(AddBot(config=buyer("slow")))).ok
        await h.drain(lambda: bool(h.engine.runners["b"].portfolio.positions))
        h.engine.submit(StartBot(request_id="start-slow", name="slow"))
        await h.drain(slow.starting.is_set)

        done = await asyncio.wait_for(h.do(PanicAll()), 5)  # it used to wait for the start

        assert done.ok and done.message == "PANIC done: 1 bot stopped, 1 position closed"
        assert not slow.gate.is_set()
        slow.gate.set()
        await h.drain(
            lambda: any(
                isinstance(e, CommandDone) and e.request_id == "start-slow" for e in h.events
            )
        )
        started = next(
            e for e in h.events if isinstance(e, CommandDone) and e.request_id == "start-slow"
        )
        assert not started.ok and "not started: PANIC" in started.message
        assert h.engine.runners["slow"].status is BotStatus.STOPPED
        assert h.engine.runners["slow"].task is None
        stored = {c.name: s for c, s in await store.load_bots()}
        assert stored["slow"] is BotStatus.STOPPED


async def test_an_edit_overtaken_by_panic_says_it_is_stored_and_not_restarted(
    store: Store,
) -> None:
    """An edit restarts its bot; a PANIC that comes while the restart waits stops it, and the
    edit's answer says the new config IS stored (it used to answer "failed" while the change
    took: adversary of issue 14, C4)."""
    slow = SlowStartBroker()
    slow.gate.set()
    h = Harness(
        make_engine(
            store, max_candles=None, strategy_factory=factory, broker_factory=brokers({"e": slow})
        )
    )
    async with running(h, slow.gate):
        assert (await h.do(AddBot(config=cfg("e", params={"fast": 2, "slow": 5}), start=True))).ok
        slow.gate.clear()
        slow.starting.clear()
        edited = cfg("e", params={"fast": 3, "slow": 9})
        h.engine.submit(UpdateBot(request_id="edit-e", name="e", config=edited))
        await h.drain(slow.starting.is_set)  # the edit's restart waits on the broker
        assert (await asyncio.wait_for(h.do(PanicAll()), 5)).ok
        slow.gate.set()
        await h.drain(
            lambda: any(isinstance(e, CommandDone) and e.request_id == "edit-e" for e in h.events)
        )
        done = next(e for e in h.events if isinstance(e, CommandDone) and e.request_id == "edit-e")
        assert done.ok and done.message.startswith("bot e updated; e not started: PANIC"), done
        stored = {c.name: (c.params, st) for c, st in await store.load_bots()}
        assert stored["e"] == ({"fast": 3, "slow": 9}, BotStatus.STOPPED)
        assert h.engine.runners["e"].status is BotStatus.STOPPED


async def test_one_bots_slow_start_does_not_hold_up_commands_for_others(store: Store) -> None:
    slow = SlowStartBroker()
    h = Harness(
        make_engine(
            store,
            max_candles=None,
            strategy_factory=factory,
            broker_factory=brokers({"slow": slow}),
        )
    )
    async with running(h, slow.gate):
        assert (await h.do(AddBot(config=buyer("b"), start=True))).ok
        assert (await h.do(AddBot(config=buyer("slow")))).ok
        h.engine.submit(StartBot(request_id="start-slow", name="slow"))
        await h.drain(slow.starting.is_set)
        stop = await asyncio.wait_for(h.do(StopBot(name="b")), 5)
        assert stop.ok and h.engine.runners["b"].status is BotStatus.STOPPED
        slow.gate.set()  # the start finishes after all, in its own time
        await h.drain(
            lambda: any(
                isinstance(e, CommandDone) and e.request_id == "start-slow" for e in h.events
            )
        )
        assert h.engine.runners["slow"].status is BotStatus.RUNNING


class SlowDecider(Strategy):
    """Decides BUY on every symbol, after ``gate`` opens (an LLM that takes its time)."""

    name = "slow_decider"
    gate: asyncio.Event
    deciding: asyncio.Event

    def signals(self, frame: Any) -> Any:
        import numpy as np  # noqa: PLC0415

        return np.ones(len(frame), dtype=np.int8)

    async def decide(self, ctx: Any) -> Any:
        self.deciding.set()
        await self.gate.wait()
        decision = await super().decide(ctx)
        return decision


async def test_held_decisions_stop_new_orders_until_released(store: Store) -> None:
    h = Harness(make_engine(store, max_candles=None, strategy_factory=factory))
    async with running(h):
        for name in ("f1", "f2"):
            assert (await h.do(AddBot(config=cfg(name, strategy="flip"), start=True))).ok
        await h.drain(lambda: sum(isinstance(e, OrderFilled) for e in h.events) >= 6)
        # The candle each bot was on when the hold took effect (read inside the engine's own
        # handler): a decision made on that candle or before it was already being acted on, and
        # its event may reach us after the command's answer; a later one must not trade.
        begun: dict[str, int] = {}
        hold_at = h.engine.hold.hold

        def hold_and_note(seconds: float, why: str) -> None:
            hold_at(seconds, why)
            begun.update({n: r.last_cycle_ts or 0 for n, r in h.engine.runners.items()})

        h.engine.hold.hold = hold_and_note  # type: ignore[method-assign]
        held = await h.do(HoldDecisions(seconds=60))
        assert held.ok and begun
        n = len(h.events)
        # 30 more candles per bot go by while held: no decision, no order (exits may still run)
        await h.drain(
            lambda: all(
                sum(1 for e in h.events[n:] if isinstance(e, EquitySampled) and e.bot == name) >= 30
                for name in ("f1", "f2")
            )
        )
        during = h.events[n:]
        late = [e for e in during if isinstance(e, DecisionMade) and e.ts > begun[e.bot]]
        assert not late, f"decided after the hold began (candles {begun}): {late}"
        entries = {o for e in during if isinstance(e, DecisionMade) for o in e.order_ids}
        assert not [
            e
            for e in during
            if isinstance(e, OrderFilled)
            and e.reason in ("entry", "exit")
            and e.client_order_id not in entries
        ]
        released = await h.do(HoldDecisions(hold=False))
        assert released.ok
        m = len(h.events)
        await h.drain(lambda: any(isinstance(e, DecisionMade) for e in h.events[m:]))


async def candles_close(h: Harness, n: int) -> None:
    """Wait until the market has closed ``n`` more candles (the hub's clock moved n times):
    a test shows that nothing was decided by what passed meanwhile, not by a pause."""
    hub = h.engine.hub
    seen = [hub.virtual_ms]

    def moved() -> bool:
        if hub.virtual_ms != seen[-1]:
            seen.append(hub.virtual_ms)
        return len(seen) > n

    await h.drain(moved, what=f"{n} more candle closes")


async def test_a_hold_is_a_lease_that_ends_by_itself(store: Store) -> None:
    h = Harness(make_engine(store, max_candles=None, strategy_factory=factory))
    async with running(h):
        assert (await h.do(AddBot(config=cfg("f1", strategy="flip"), start=True))).ok
        await h.drain(lambda: any(isinstance(e, DecisionMade) for e in h.events))
        assert (await h.do(HoldDecisions(seconds=1))).ok  # a cockpit that then went away
        n = len(h.events)
        await candles_close(h, 5)  # while the 1 s lease lasts (max speed: a few ms)
        assert not [e for e in h.events[n:] if isinstance(e, DecisionMade)]
        await h.drain(lambda: any(isinstance(e, DecisionMade) for e in h.events[n:]), timeout=30)


async def test_a_decision_in_flight_when_the_hold_begins_is_stored_not_acted_on(
    store: Store,
) -> None:
    slow = SlowDecider()
    slow.gate, slow.deciding = asyncio.Event(), asyncio.Event()

    def strategies(config: BotConfig) -> Strategy:
        return slow if config.name == "llmish" else factory(config)

    h = Harness(make_engine(store, max_candles=None, strategy_factory=strategies))
    async with running(h, slow.gate):
        assert (await h.do(AddBot(config=cfg("llmish", strategy="flip"), start=True))).ok
        await h.drain(slow.deciding.is_set)
        assert (await h.do(HoldDecisions(seconds=60, why="PANIC confirmation open"))).ok
        slow.gate.set()
        await h.drain(lambda: any(isinstance(e, DecisionMade) for e in h.events))
        made = next(e for e in h.events if isinstance(e, DecisionMade))
        assert made.reasoning.startswith("[not acted on: PANIC confirmation open]")
        assert all(a == "hold" for _, a in made.actions) and made.order_ids == ()
        assert not [e for e in h.events if isinstance(e, OrderFilled)]
        assert not h.engine.runners["llmish"].portfolio.positions


async def test_stop_keeps_or_closes_positions_as_asked_or_as_the_bot_is_set(store: Store) -> None:
    h = Harness(make_engine(store, max_candles=None, strategy_factory=factory))
    async with running(h):
        assert (await h.do(AddBot(config=buyer("keep"), start=True))).ok
        assert (await h.do(AddBot(config=buyer("closer", on_stop="close"), start=True))).ok
        assert (await h.do(AddBot(config=buyer("asked"), start=True))).ok
        runners = h.engine.runners
        await h.drain(lambda: all(r.portfolio.positions for r in runners.values()))

        kept = await h.do(StopBot(name="keep"))
        assert kept.ok and kept.message == (
            "keep stopped; 1 position kept: stop-loss and "
            "take-profit are not watched until it runs again"
        )
        assert runners["keep"].portfolio.positions and await store.load_positions("keep")

        closed = await h.do(StopBot(name="closer"))  # its on_stop setting: close
        assert closed.ok and closed.message == "closer stopped; 1 position closed"
        assert not runners["closer"].portfolio.positions

        asked = await h.do(StopBot(name="asked", close_positions=True))  # the dialog's choice
        assert asked.ok and asked.message == "asked stopped; 1 position closed"
        assert await store.load_positions("asked") == {}
        assert all(r.status is BotStatus.STOPPED for r in runners.values())


async def test_a_hold_of_absurd_length_is_the_longest_lease_and_a_negative_one_none(
    store: Store,
) -> None:
    """A remote client can send any integer: 10**4000 once failed the command with "int too
    large to convert to float"; a negative length was logged as held for that long."""
    h = Harness(make_engine(store, max_candles=None, strategy_factory=factory))
    async with running(h):
        assert (await h.do(HoldDecisions(seconds=10**4000))).ok
        assert h.engine.hold.reason()
        assert (await h.do(HoldDecisions(hold=False))).ok
        assert (await h.do(HoldDecisions(seconds=-(10**20)))).ok
        assert h.engine.hold.reason() == ""
