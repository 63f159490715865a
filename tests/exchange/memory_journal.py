"""A dict-backed order journal implementing engine.exchange.broker.OrderJournal (the Store
implements the same methods)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from oxbot.engine.models import Fill, Order, OrderStatus

OPEN_STATES = tuple(s for s in OrderStatus if not s.terminal)


class MemoryJournal:
    def __init__(self) -> None:
        self.orders: dict[str, Order] = {}
        self.fills: dict[str, Fill] = {}
        self.saves: list[Order] = []

    async def save_order(self, order: Order) -> None:
        self.orders[order.client_order_id] = order
        self.saves.append(order)

    async def get_order(self, client_order_id: str) -> Order | None:
        return self.orders.get(client_order_id)

    async def open_orders(self, bot: str) -> list[Order]:
        return [o for o in self.orders.values() if o.bot == bot and o.status in OPEN_STATES]

    async def order_fills(self, client_order_id: str) -> list[Fill]:
        return [f for f in self.fills.values() if f.client_order_id == client_order_id]

    async def record_cycle(
        self,
        bot: str,
        *,
        orders: Sequence[Order] = (),
        fills: Sequence[Fill] = (),
        positions: Any = None,
    ) -> None:
        for o in orders:
            self.orders[o.client_order_id] = o
        for f in fills:
            self.fills.setdefault(f.fill_id, f)  # duplicate fill ids are ignored
