"""Commands do what they say: start, stop (for real), pause, flatten, panic, delete, update;
one bot's failure never touches another; a restart brings every wallet back exactly."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pytest

from oxbot.engine.messages import (
    AddBot,
    BotStateChanged,
    CycleFailed,
    DecisionMade,
    DeleteBot,
    FlattenBot,
    OrderFilled,
    PanicAll,
    PauseBot,
    RecentFills,
    RequestRecentFills,
    ResumeBot,
    StartBot,
    StopBot,
    UpdateBot,
)
from oxbot.engine.models import BotConfig, BotStatus
from oxbot.engine.strategies import Strategy, build_strategy
from oxbot.engine.strategies.base import ENTER, EXIT, NONE
from oxbot.storage.store import Store

from .conftest import Harness, make_engine

FAST = {"fast": 3, "slow": 8}


def cfg(name: str, **kw: Any) -> BotConfig:
    base: dict[str, Any] = {
        "name": name,
        "strategy": "sma_cross",
        "params": FAST,
        "symbols": ["BTC/USDT"],
    }
    base.update(kw)
    return BotConfig.model_validate(base)


class AlwaysBuy(Strategy):
    name = "always_buy"

    def signals(self, frame: pd.DataFrame) -> np.ndarray:
        return np.full(len(frame), ENTER, dtype=np.int8)


class Flip(Strategy):
    """In when the last close rose, out when it fell: an order on about every other candle."""

    name = "flip"

    def signals(self, frame: pd.DataFrame) -> np.ndarray:
        up = np.diff(frame["close"].to_numpy(), prepend=np.nan) > 0
        return np.where(up, ENTER, EXIT).astype(np.int8)


class Holds(Strategy):
    """Never trades: a bot that only counts the market's candles (``later_candles``)."""

    name = "holds"

    def signals(self, frame: pd.DataFrame) -> np.ndarray:
        return np.full(len(frame), NONE, dtype=np.int8)


class Broken(Strategy):
    name = "broken"

    def signals(self, frame: pd.DataFrame) -> np.ndarray:
        raise RuntimeError("strategy exploded")


def factory(config: BotConfig) -> Strategy:
    special: dict[str, type[Strategy]] = {
        "always_buy": AlwaysBuy,
        "broken": Broken,
        "flip": Flip,
        "holds": Holds,
    }
    if config.strategy in special:
        return special[config.strategy]()
    return build_strategy(config.strategy, config.params)


async def add_clock(h: Harness) -> None:
    """A bot that never trades, on the same market as ``cfg``'s: its cycles count candles."""
    assert (await h.do(AddBot(config=cfg("clock", strategy="holds", params={}), start=True))).ok


async def later_candles(h: Harness, n: int, clock: str = "clock") -> None:
    """Wait until ``clock`` has decided on ``n`` more candles: a test shows that a bot did
    nothing by what happened meanwhile, not by a pause of a guessed length."""
    runner = h.engine.runners[clock]
    seen = runner.cycles
    await h.drain(lambda: runner.cycles >= seen + n, what=f"{n} more candles of {clock}")


async def test_stop_really_stops_and_start_resumes(store: Store) -> None:
    h = Harness(make_engine(store, max_candles=None, strategy_factory=factory))
    await h.start()
    await add_clock(h)
    assert (await h.do(AddBot(config=cfg("a"), start=True))).ok
    await h.drain(lambda: h.engine.runners["a"].cycles > 20)
    done = await h.do(StopBot(name="a"))
    assert done.ok and h.engine.runners["a"].status is BotStatus.STOPPED
    cycles, fills = h.engine.runners["a"].cycles, await store.fill_count("a")
    n = len(h.events)
    await later_candles(h, 20)  # the market goes on at max speed
    assert h.engine.runners["a"].cycles == cycles
    assert await store.fill_count("a") == fills
    assert not [e for e in h.events[n:] if isinstance(e, OrderFilled) and e.bot == "a"]
    assert (await h.do(StartBot(name="a"))).ok
    await h.drain(lambda: h.engine.runners["a"].cycles > cycles + 5)
    await h.stop()


async def test_pause_keeps_guarding_positions_and_resume_decides_again(store: Store) -> None:
    h = Harness(make_engine(store, max_candles=None, strategy_factory=factory))
    await h.start()
    tight = {"stop_loss_pct": "0.05", "take_profit_pct": "0.05"}
    assert (
        await h.do(
            AddBot(config=cfg("p", strategy="always_buy", params={}, risk=tight), start=True)
        )
    ).ok
    r = h.engine.runners["p"]
    await h.drain(lambda: bool(r.portfolio.positions))
    assert (await h.do(PauseBot(name="p"))).ok
    cycles = r.cycles

    def exits() -> list[OrderFilled]:
        return [e for e in h.events if isinstance(e, OrderFilled) and e.side == "sell"]

    await h.drain(lambda: bool(exits()))  # SL/TP still fire while paused
    assert not r.portfolio.positions
    assert r.cycles == cycles and r.status is BotStatus.PAUSED
    assert exits()[-1].reason in ("stop_loss", "take_profit")
    assert not (await h.do(PauseBot(name="p"))).ok  # only a running bot pauses
    assert (await h.do(ResumeBot(name="p"))).ok
    await h.drain(lambda: r.cycles > cycles)
    await h.stop()


async def test_an_edit_of_a_paused_bot_keeps_it_paused_throughout(store: Store) -> None:
    """An edit restarts the bot with its new config: a paused bot must come back paused, never
    running for a moment (at max speed, candles go by while the edit is stored, and the bot
    used to trade them: found by the adversary of issue 14)."""
    h = Harness(make_engine(store, max_candles=None, strategy_factory=factory))
    await h.start()
    assert (await h.do(AddBot(config=cfg("p", strategy="flip", params={}), start=True))).ok
    await add_clock(h)
    r = h.engine.runners["p"]
    await h.drain(lambda: r.cycles > 3)
    assert (await h.do(PauseBot(name="p"))).ok
    n = len(h.events)
    for i in range(6):  # each edit stores the config, the status, ... while candles go by
        fee = Decimal("0.001") if i % 2 else Decimal("0.002")
        done = await h.do(
            UpdateBot(name="p", config=cfg("p", strategy="flip", params={}, fee_rate=fee))
        )
        assert done.ok, done.message
        assert h.engine.runners["p"].status is BotStatus.PAUSED
    await later_candles(h, 5)
    during = h.events[n:]
    assert not [e for e in during if isinstance(e, DecisionMade) and e.bot == "p"]
    assert not [
        e for e in during if isinstance(e, OrderFilled) and e.bot == "p" and e.reason != "stop_loss"
    ]
    assert not [
        e
        for e in during
        if isinstance(e, BotStateChanged)
        and e.bot
        and e.bot.name == "p"
        and e.bot.status is BotStatus.RUNNING
    ]
    await h.stop()


async def test_one_failing_bot_never_stops_another(store: Store) -> None:
    h = Harness(make_engine(store, max_candles=None, strategy_factory=factory))
    await h.start()
    assert (await h.do(AddBot(config=cfg("good"), start=True))).ok
    assert (await h.do(AddBot(config=cfg("bad", strategy="broken", params={}), start=True))).ok
    good, bad = h.engine.runners["good"], h.engine.runners["bad"]

    def fails() -> list[CycleFailed]:
        return [e for e in h.events if isinstance(e, CycleFailed)]

    await h.drain(lambda: len(fails()) >= 20 and good.cycles > 100)
    await later_candles(h, 20, clock="good")  # the market goes on: no 21st failure
    assert bad.status is BotStatus.ERROR
    fails = fails()  # type: ignore[assignment]
    assert fails and {e.bot for e in fails} == {"bad"}
    assert "strategy exploded" in fails[0].error
    # Counted, retried at every cycle, and put in the error state after 20 in a row.
    assert bad.errors == len(fails) == 20 and fails[-1].consecutive == 20
    assert good.errors == 0 and good.status is BotStatus.RUNNING
    await h.stop()


async def test_flatten_panic_and_delete(store: Store) -> None:
    h = Harness(make_engine(store, max_candles=None, strategy_factory=factory))
    await h.start()
    for name in ("x", "y"):
        assert (
            await h.do(
                AddBot(
                    config=cfg(
                        name, strategy="always_buy", params={}, symbols=["BTC/USDT", "ETH/USDT"]
                    ),
                    start=True,
                )
            )
        ).ok
    await h.drain(lambda: all(len(r.portfolio.positions) == 2 for r in h.engine.runners.values()))
    n = len(h.events)
    done = await h.do(FlattenBot(name="x"))
    assert done.ok and "2 position(s) closed" in done.message
    flat = [e for e in h.events[n:] if isinstance(e, OrderFilled) and e.reason == "flatten"]
    assert {(e.bot, e.symbol, e.side) for e in flat} == {
        ("x", "BTC/USDT", "sell"),
        ("x", "ETH/USDT", "sell"),
    }
    panic = await h.do(PanicAll())
    assert panic.ok, panic.message
    assert all(
        r.status is BotStatus.STOPPED and not r.portfolio.positions
        for r in h.engine.runners.values()
    )
    assert await store.load_positions("y") == {}
    gone = await h.do(DeleteBot(name="x"))
    assert gone.ok and "history kept" in gone.message
    assert "x" not in h.engine.runners
    import sqlite3

    con = sqlite3.connect(store.path)
    try:  # the deleted bot's fills are still in the ledger
        (kept,) = con.execute("SELECT count(*) FROM fills WHERE bot = 'x'").fetchone()
    finally:
        con.close()
    assert kept > 0
    await h.stop()


async def test_panic_stops_every_bot_before_it_flattens_any(store: Store) -> None:
    """While PANIC flattens one bot, the others must not go on trading (they used to be stopped
    and flattened one after the other, and a bot still running opened new positions that PANIC
    then had to close)."""
    h = Harness(make_engine(store, max_candles=None, strategy_factory=factory))
    await h.start()
    for i in range(6):
        assert (await h.do(AddBot(config=cfg(f"f{i}", strategy="flip"), start=True))).ok
    await h.drain(lambda: sum(1 for e in h.events if isinstance(e, OrderFilled)) > 30)
    await h.drain(lambda: sum(len(r.portfolio.positions) for r in h.engine.runners.values()) >= 2)
    n = len(h.events)
    panic = await h.do(PanicAll())
    assert panic.ok, panic.message
    after = [(e.bot, e.side, e.reason) for e in h.events[n:] if isinstance(e, OrderFilled)]
    # Orders already in flight when the command arrives may still fill; once the first
    # position is flattened, nothing else may trade.
    first = next(i for i, (_, _, reason) in enumerate(after) if reason == "flatten")
    assert all(reason == "flatten" for _, _, reason in after[first:]), after
    await h.stop()


async def test_bad_commands_are_refused_with_a_reason(store: Store) -> None:
    h = Harness(make_engine(store))
    await h.start()
    assert (await h.do(AddBot(config=cfg("a")))).ok
    dup = await h.do(AddBot(config=cfg("a")))
    assert not dup.ok and "already exists" in dup.message
    bad = await h.do(AddBot(config=cfg("b", params={"fast": 30, "slow": 10})))
    assert not bad.ok and "fast (30) must be shorter than slow (10)" in bad.message
    assert [c.name for c, _ in await store.load_bots()] == ["a"]  # nothing half-saved
    missing = await h.do(StartBot(name="nope"))
    assert not missing.ok and "no bot named 'nope'" in missing.message
    renamed = await h.do(UpdateBot(name="a", config=cfg("z")))
    assert not renamed.ok and "cannot be renamed" in renamed.message
    await h.stop()


@pytest.mark.both_backends
async def test_update_keeps_the_ledger_and_restart_restores_exactly(store: Store, db: Any) -> None:
    h = Harness(make_engine(store, max_candles=None))
    await h.start()
    assert (await h.do(AddBot(config=cfg("u", params={"fast": 2, "slow": 5}), start=True))).ok
    r = h.engine.runners["u"]
    await h.drain(lambda: r.portfolio.trades >= 3 and bool(r.portfolio.positions))
    # The market waits (the hub's step-aside hook, MarketHub.wait_turn, awaited before every
    # candle) while the bot is updated: else the new runner may trade during the update's
    # writes (a candle costs well under a millisecond) before its ledger is compared.
    gate = asyncio.Event()
    h.engine.hub.wait_turn = gate.wait  # type: ignore[method-assign]
    done = await h.do(UpdateBot(name="u", config=cfg("u", params={"fast": 4, "slow": 9})))
    assert done.ok
    r2 = h.engine.runners["u"]
    assert r2.status is BotStatus.RUNNING and r2.strategy.params.fast == 4
    before = (r2.portfolio.cash, r2.portfolio.realised, r2.portfolio.fees, r2.portfolio.positions)
    assert before[0] == r.portfolio.cash
    gate.set()
    await h.stop()
    cash, realised, fees = (r2.portfolio.cash, r2.portfolio.realised, r2.portfolio.fees)
    positions = r2.portfolio.positions
    await store.close()

    again = await Store.open(db)
    try:
        e2 = make_engine(again)
        await e2._load()
        p = e2.runners["u"].portfolio
        assert (p.cash, p.realised, p.fees) == (cash, realised, fees)
        assert p.positions == positions  # incl. SL/TP of open positions
        assert e2.runners["u"].status is BotStatus.RUNNING  # it was running: it resumes
        assert all(pos.stop_loss and pos.take_profit for pos in p.positions.values())
    finally:
        await again.close()
    assert isinstance(cash, Decimal)


async def test_a_rejected_api_key_stops_the_bot_at_once(store: Store) -> None:
    from oxbot.engine.broker import Broker
    from oxbot.engine.errors import AuthError
    from oxbot.engine.messages import Notice

    calls: list[str] = []

    class Refusing(Broker):
        async def execute(self, intent: Any, ref_price: Any, ts: int) -> Any:
            calls.append(intent.client_order_id)
            raise AuthError("binance: API-key rejected")

    engine = make_engine(
        store, max_candles=None, strategy_factory=factory, broker_factory=lambda _c: Refusing()
    )
    h = Harness(engine)
    await h.start()
    await add_clock(h)
    assert (await h.do(AddBot(config=cfg("k", strategy="always_buy", params={}), start=True))).ok
    r = engine.runners["k"]
    await h.drain(lambda: r.status is BotStatus.ERROR)
    await later_candles(h, 20)  # the market goes on; the bot must not try again
    assert len(calls) == 1
    await h.drain(lambda: any(isinstance(e, Notice) for e in h.events), timeout=5)
    notices = [e for e in h.events if isinstance(e, Notice) and e.bot == "k"]
    assert notices and "rejected the API key" in notices[0].message
    assert dict((c.name, s) for c, s in await store.load_bots())["k"] is BotStatus.ERROR
    await h.stop()


async def test_mode_exchange_or_symbols_cannot_change_under_open_positions(store: Store) -> None:
    h = Harness(make_engine(store, max_candles=None, strategy_factory=factory))
    await h.start()
    assert (
        await h.do(
            AddBot(
                config=cfg("h", strategy="always_buy", params={}, symbols=["BTC/USDT", "ETH/USDT"]),
                start=True,
            )
        )
    ).ok
    r = h.engine.runners["h"]
    await h.drain(lambda: len(r.portfolio.positions) == 2)
    for change in ({"exchange": "binance"}, {"symbols": ["ETH/USDT"]}):
        new = cfg("h", strategy="always_buy", params={}, symbols=["BTC/USDT", "ETH/USDT"])
        done = await h.do(UpdateBot(name="h", config=new.model_copy(update=change)))
        assert not done.ok and "flatten it (f) before changing" in done.message
    stored = {c.name: c for c, _ in await store.load_bots()}["h"]
    assert stored.exchange == "sim" and stored.symbols == ("BTC/USDT", "ETH/USDT")
    assert h.engine.runners["h"].status is BotStatus.RUNNING
    await h.stop()


@pytest.mark.both_backends
async def test_a_restart_continues_the_sim_price_path(store: Store) -> None:
    h = Harness(make_engine(store, max_candles=None))
    await h.start()
    assert (await h.do(AddBot(config=cfg("m"), start=True))).ok
    r = h.engine.runners["m"]
    await h.drain(lambda: r.cycles > 50)
    await h.stop()
    key = next(iter(h.engine.hub._streams))
    last_close = float(h.engine.hub._streams[key].ohlcv[-1, 3])
    assert (await store.load_marks())[str(key)][1] == Decimal(repr(last_close))

    again = make_engine(store, max_candles=None)
    await again._load()
    again.hub.subscribe(again.runners["m"], [key], [])
    stream = again.hub._streams[key]
    # The new history ends exactly at the stored close: no jump back to the seed's start.
    assert float(stream.ohlcv[-1, 3]) == last_close
    assert stream.series.next().open == last_close


async def test_todays_opening_equity_survives_a_restart(store: Store) -> None:
    h = Harness(make_engine(store, max_candles=None))
    await h.start()
    assert (await h.do(AddBot(config=cfg("d", params={"fast": 2, "slow": 5}), start=True))).ok
    r = h.engine.runners["d"]
    await h.drain(lambda: r.portfolio.trades >= 2)
    await h.stop()
    day_open = r.day_start_equity
    assert day_open == Decimal("10000")  # the first sample of the (market) day
    again = make_engine(store, max_candles=None)
    await again._load()
    r2 = again.runners["d"]
    assert r2.portfolio.equity(r2.marks) != day_open  # fees were paid since the day opened
    # the bots table's "Last" column: the last decision before the restart, not "—"
    assert r2.last_decision_ts == r.last_decision_ts is not None
    last_ts = (await store.equity_series("d", limit=1))[0][0]
    r2._sample_equity(last_ts + 60_000)  # a new sample later the same market day
    assert r2.day_start_equity == day_open


async def test_stored_fills_carry_the_pnl_shown_when_they_happened(store: Store) -> None:
    """A restarted cockpit asks for recent fills: exits keep the P&L the live event showed."""
    h = Harness(make_engine(store, max_candles=300))
    await h.start()
    assert (await h.do(AddBot(config=cfg("a"), start=True))).ok

    def exits() -> list[OrderFilled]:
        return [e for e in h.events if isinstance(e, OrderFilled) and e.side == "sell"]

    await h.drain(lambda: len(exits()) >= 2)
    live = {e.client_order_id: e.realised for e in exits()}
    assert any(v != 0 for v in live.values())
    await h.do(RequestRecentFills(bot="a", limit=1000))
    stored = next(e for e in reversed(h.events) if isinstance(e, RecentFills))
    await h.stop()
    kept = {f.client_order_id: f.realised for f in stored.fills if f.client_order_id in live}
    assert kept == live


async def test_an_unknown_exchange_is_refused_when_added_not_stored(store: Store) -> None:
    """A command from any client (the control socket included) is checked like the CLI's:
    a bot on an exchange ccxt does not know was once stored, and only its start failed."""
    h = Harness(make_engine(store))
    await h.start()
    try:
        done = await h.do(AddBot(config=BotConfig(name="typo", exchange="binanse")))
        assert not done.ok and "unknown exchange 'binanse'" in done.message
        assert [c.name for c, _ in await store.load_bots()] == []
    finally:
        await h.stop()
