"""The ledger holds exactly what the engine recorded: exact Decimals, each fill once."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from postgres import raw_rows

from oxbot.engine.errors import StorageError
from oxbot.engine.models import BotStatus, OrderStatus, Side
from oxbot.storage.store import Store

D = Decimal
# every test here runs on SQLite and on PostgreSQL (the ledger's invariants on both backends)
pytestmark = pytest.mark.both_backends


async def test_cycle_round_trip_every_table_exact(store: Store, make, db: Path | str) -> None:
    order = make.order("o1", stop_loss=D("40530.48"), take_profit=D("44940.535"))
    fill = make.fill("f1", "o1", qty=D("0.1"), price=D("0.2"), fee=D("0.00002"))
    pos = make.position(qty=D("0.1"), avg_entry=D("0.2"))
    decision = make.decision(
        reasoning="trend up",
        verdict="approved",
        verdict_reasons="ok",
        order_ids="o1",
        provider="fake",
        model="m1",
        prompt_hash="abc",
        prompt="p",
        raw_reply="{}",
        parsed='{"a":1}',
        error="",
        tokens_in=120,
        tokens_out=40,
        cost=D("0.000123"),
        latency_ms=850,
    )
    points = [
        make.equity(ts=1_000, equity="10000.1", cash="9999.9"),
        make.equity(ts=2_000, equity="10000.2", cash="9999.8"),
    ]

    flags = await store.record_cycle(
        "alpha",
        orders=[order],
        fills=[fill],
        positions={"BTC/USDT": pos},
        decision=decision,
        equity=points,
    )

    assert flags == [True]
    assert await store.get_order("o1") == order
    assert await store.load_fills("alpha") == [fill]
    assert await store.load_positions("alpha") == {"BTC/USDT": pos}
    assert await store.recent_decisions("alpha", 10) == [decision]
    assert await store.equity_series("alpha") == [(1_000, D("10000.1")), (2_000, D("10000.2"))]
    # Stored exactly, never as a float: SQLite's exact text; PostgreSQL's NUMERIC, whose text
    # is the same digits (its type checked, not merely what a driver makes of it).
    if isinstance(db, Path):
        raw = await raw_rows(db, "SELECT qty, price, fee FROM fills")
    else:
        raw = await raw_rows(
            db,
            "SELECT qty::text, price::text, fee::text FROM fills "
            "WHERE pg_typeof(qty) = 'numeric'::regtype",
        )
    assert raw == [("0.1", "0.2", "0.00002")]


async def test_decimal_sum_is_exact_after_round_trip(store: Store, make) -> None:
    orders = [make.order(f"o{i}") for i in range(2)]
    fills = [make.fill("f0", "o0", price=D("0.1")), make.fill("f1", "o1", price=D("0.2"))]
    await store.record_cycle("alpha", orders=orders, fills=fills)

    loaded = await store.load_fills("alpha")

    total = loaded[0].price + loaded[1].price
    assert total == D("0.3")
    assert str(total) == "0.3"  # 0.1 + 0.2 as floats would be 0.30000000000000004
    # Trailing zeros and exponents survive unchanged too.
    await store.record_cycle(
        "alpha",
        orders=[make.order("o9")],
        fills=[make.fill("f9", "o9", qty=D("1.500"), fee=D("1E-8"))],
    )
    last = (await store.load_fills("alpha"))[-1]
    assert (str(last.qty), str(last.fee)) == ("1.500", "1E-8")


async def test_float_amount_is_refused_and_nothing_written(store: Store, make) -> None:
    bad = make.fill("f1", "o1", price=0.1)
    with pytest.raises(Exception, match="must be Decimal"):
        await store.record_cycle("alpha", orders=[make.order("o1")], fills=[bad])
    # The whole cycle rolled back: not even the order is there.
    assert await store.get_order("o1") is None
    assert await store.fill_count("alpha") == 0


async def test_duplicate_fills_are_counted_once(store: Store, make) -> None:
    order = make.order("o1")
    f1 = make.fill("f1", "o1")
    f2 = make.fill("f2", "o1", ts=2_000)
    first = await store.record_cycle("alpha", orders=[order], fills=[f1, f2, f1])
    # The same fills again: a websocket + REST + restart replay of one execution.
    again = await store.record_cycle("alpha", fills=[f2, f1])

    assert first == [True, True, False]
    assert again == [False, False]
    assert await store.fill_count("alpha") == 2
    assert [f.fill_id for f in await store.load_fills("alpha")] == ["f1", "f2"]


async def test_fills_load_by_time_then_insertion_order(store: Store, make) -> None:
    orders = [make.order(f"o{i}") for i in range(4)]
    fills = [
        make.fill("late", "o0", ts=3_000),
        make.fill("b", "o1", ts=1_000),
        make.fill("a", "o2", ts=1_000),
        make.fill("mid", "o3", ts=2_000),
    ]
    await store.record_cycle("alpha", orders=orders, fills=fills)
    assert [f.fill_id for f in await store.load_fills("alpha")] == ["b", "a", "mid", "late"]
    assert [f.fill_id for f in await store.recent_fills("alpha", 2)] == ["mid", "late"]


async def test_order_status_updates_and_open_orders(store: Store, make) -> None:
    pending = make.order("o1", status=OrderStatus.PENDING)
    await store.save_order(pending)
    assert await store.open_orders("alpha") == [pending]

    sent = make.order("o1", status=OrderStatus.OPEN, exchange_order_id="X-77")
    await store.record_cycle("alpha", orders=[sent])
    assert await store.get_order("o1") == sent

    # A later update without the exchange id keeps the one we learnt.
    await store.record_cycle(
        "alpha", orders=[make.order("o1", status=OrderStatus.FILLED)], fills=[make.fill("f1", "o1")]
    )
    done = await store.get_order("o1")
    assert done is not None and done.status is OrderStatus.FILLED
    assert done.exchange_order_id == "X-77"
    assert await store.open_orders() == []


async def test_position_upsert_and_delete(store: Store, make) -> None:
    btc = make.position("BTC/USDT")
    eth = make.position(
        "ETH/USDT", qty=D("2"), avg_entry=D("2300"), stop_loss=None, take_profit=None
    )
    await store.record_cycle("alpha", positions={"BTC/USDT": btc, "ETH/USDT": eth})
    grown = make.position("BTC/USDT", qty=D("0.3"), avg_entry=D("41000.25"))
    await store.record_cycle("alpha", positions={"BTC/USDT": grown, "ETH/USDT": None})

    assert await store.load_positions("alpha") == {"BTC/USDT": grown}


async def test_fill_without_its_order_is_refused_whole(store: Store, make) -> None:
    with pytest.raises(StorageError, match="fill needs its order"):
        await store.record_cycle(
            "alpha", fills=[make.fill("f1", "missing")], equity=[make.equity()]
        )
    assert await store.equity_series("alpha") == []


async def test_unknown_bot_and_foreign_rows_are_refused(store: Store, make) -> None:
    with pytest.raises(StorageError, match="no bot named 'ghost'"):
        await store.record_cycle("ghost", equity=[make.equity(bot="ghost")])
    with pytest.raises(ValueError, match="of bot 'beta'"):
        await store.record_cycle("alpha", orders=[make.order("o1", bot="beta")])


async def test_equity_series_keeps_newest_limit_oldest_first(store: Store, make) -> None:
    points = [make.equity(ts=t * 1_000, equity=str(10_000 + t)) for t in range(10)]
    await store.record_cycle("alpha", equity=points)
    series = await store.equity_series("alpha", limit=3)
    assert series == [(7_000, D("10007")), (8_000, D("10008")), (9_000, D("10009"))]


async def test_decision_stats_sum_exact_and_today(store: Store, make) -> None:
    day = 86_400_000
    today = 20 * day + 5_000
    for ts, cost, error in [
        (19 * day + 1, "0.1", ""),
        (20 * day, "0.1", "timeout"),
        (today, "0.2", ""),
        (21 * day, "7", ""),
    ]:
        await store.record_cycle(
            "alpha",
            decision=make.decision(ts=ts, cost=D(cost), error=error, tokens_in=100, tokens_out=10),
        )

    # "today" is the wall-clock day the decisions were stored (LLM money is spent in real
    # time), not the market clock of their ts: all four were stored just now.
    stats = await store.decision_stats("alpha")
    assert stats == {
        "count": 4,
        "failures": 1,
        "tokens_in": 400,
        "tokens_out": 40,
        "cost": D("7.4"),
        "cost_today": D("7.4"),
    }
    assert (await store.decision_stats("alpha", today))["cost_today"] == D("0")
    assert (await store.recent_decisions("alpha", 2))[-1].ts == 21 * day  # newest last


async def test_recent_fills_across_bots(store: Store, make) -> None:
    await store.save_bot(make.config("beta"), BotStatus.STOPPED)
    await store.record_cycle(
        "alpha", orders=[make.order("a1")], fills=[make.fill("fa", "a1", ts=1_000)]
    )
    await store.record_cycle(
        "beta",
        orders=[make.order("b1", bot="beta", side=Side.SELL)],
        fills=[make.fill("fb", "b1", bot="beta", ts=2_000)],
    )
    assert [f.fill_id for f in await store.recent_fills(None, 10)] == ["fa", "fb"]
    assert [f.bot for f in await store.recent_fills("beta", 10)] == ["beta"]


async def test_ledger_survives_reopen(db: Path | str, make) -> None:
    async with await Store.open(db) as s:
        await s.save_bot(make.config("alpha"), BotStatus.RUNNING)
        await s.record_cycle(
            "alpha",
            orders=[make.order("o1")],
            fills=[make.fill("f1", "o1")],
            positions={"BTC/USDT": make.position()},
        )
    async with await Store.open(db) as s:
        assert await s.load_fills("alpha") == [make.fill("f1", "o1")]
        assert await s.load_positions("alpha") == {"BTC/USDT": make.position()}
        if isinstance(db, Path):  # SQLite's page check (PostgreSQL has none built in)
            assert await s.integrity_check() == "ok"


async def test_a_fill_keeps_the_pnl_it_realised(store: Store, make) -> None:
    await store.record_cycle(
        "alpha",
        orders=[make.order("o1"), make.order("o2", side=Side.SELL)],
        fills=[
            make.fill("in", "o1", ts=1_000),
            make.fill("out", "o2", side=Side.SELL, ts=2_000, realised=D("-12.3456789")),
        ],
    )
    entry, exit_ = await store.recent_fills("alpha", 10)
    assert entry.realised is None  # not booked: unknown, never a made-up 0
    assert exit_.realised == D("-12.3456789")  # exact: stored as text
