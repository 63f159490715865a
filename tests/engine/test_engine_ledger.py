"""The one writer of a bot's ledger (engine/ledger.py): a fill is applied once however often
it is reported, and memory never runs ahead of what was stored."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from oxbot.engine.bus import EventBus
from oxbot.engine.ledger import LedgerWriter
from oxbot.engine.messages import Event, OrderFilled, PositionChanged, PositionView
from oxbot.engine.models import Fill, OrderReason, Position, Side
from oxbot.engine.portfolio import Portfolio

D = Decimal
BUY = Fill(
    "f1", "o1", "b", "BTC/USDT", Side.BUY, D("0.1"), D("100"), D("0.01"), 5, OrderReason.ENTRY
)


class Store:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.writes: list[dict[str, Any]] = []

    async def record_cycle(self, bot: str, **kw: Any) -> list[bool]:
        if self.fail:
            raise OSError("disk full")
        self.writes.append(kw)
        return [True for _ in kw["fills"]]

    async def set_bot_status(self, name: str, status: Any) -> None:
        return None


def view(p: Position) -> PositionView:
    return PositionView(
        "b", p.symbol, p.side, p.qty, p.avg_entry, p.avg_entry, D(0), p.stop_loss, p.take_profit
    )


def writer(store: Store, events: list[Event], **kw: Any) -> LedgerWriter:
    bus = EventBus()
    bus.listen(events.append)
    return LedgerWriter("b", Portfolio(D(1000)), store, bus, position_view=view, **kw)


async def test_a_fill_reported_twice_is_applied_stored_and_published_once() -> None:
    store, events = Store(), []
    w = writer(store, events)
    w.track_fill_ids(set())
    for _ in range(2):
        await w.write([], [BUY], None, take_equity=list)
    assert w.portfolio.position("BTC/USDT").qty == D("0.1")  # type: ignore[union-attr]
    assert [len(x["fills"]) for x in store.writes] == [1]  # the repeat had nothing to write
    assert [type(e) for e in events] == [OrderFilled, PositionChanged]


async def test_a_failed_write_reloads_the_portfolio_and_publishes_nothing() -> None:
    events: list[Event] = []
    stored = Portfolio(D(1000))

    async def reload() -> Portfolio:
        return stored

    w = writer(Store(fail=True), events, reload=reload)
    with pytest.raises(OSError):
        await w.write([], [BUY], None, take_equity=list)
    assert w.portfolio is stored and w.portfolio.position("BTC/USDT") is None
    assert events == []
