"""The one writer of a bot's ledger.

Every fill a bot records, from a decision, an SL/TP exit, a flatten, a settled order, a restart
or a reconciliation the user adopted, goes through ``LedgerWriter.write``: the fills are applied
to the portfolio (each once), the orders, fills, touched positions, the decision record and the
equity samples not stored yet are written in ONE ``record_cycle`` transaction, and only then are
the OrderFilled / PositionChanged events published. Brokers return what happened as values
(``broker.Execution``) and never write here themselves.

Memory never runs ahead of the ledger: when the write fails, the portfolio is rebuilt from what
is stored and the failure is raised again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING

from .broker import Execution
from .bus import EventBus
from .messages import OrderFilled, PositionChanged, PositionView
from .models import DecisionRecord, EquityPoint, Fill, Order, Position, Side
from .portfolio import Portfolio

if TYPE_CHECKING:
    from .ports import BotLedger


class LedgerWriter:
    """Applies and stores one bot's fills; owns its portfolio and the ids of fills applied.

    ``position_view`` renders a position for PositionChanged (the bot knows the marks);
    ``reload`` rebuilds the portfolio from the stored ledger after a failed write;
    ``lost`` is called when even that fails (the bot can no longer trust its memory)."""

    def __init__(
        self,
        bot: str,
        portfolio: Portfolio,
        store: BotLedger,
        bus: EventBus,
        *,
        position_view: Callable[[Position], PositionView],
        reload: Callable[[], Awaitable[Portfolio]] | None = None,
        lost: Callable[[], None] = lambda: None,
    ) -> None:
        self.bot = bot
        self.portfolio = portfolio
        self.store = store
        self.bus = bus
        self._position_view = position_view
        self._reload = reload
        self._lost = lost
        # Ids of the fills applied to the portfolio (LIVE: a fill reported by a reply, a lookup
        # and a restart is applied once); None until a broker reports a fill twice-able.
        self.applied: set[str] | None = None

    def track_fill_ids(self, ids: set[str]) -> None:
        """Apply each fill id once from now on (LIVE bots: ``ids`` are the stored ones)."""
        self.applied = set(ids)

    async def write(
        self,
        orders: Sequence[Order],
        fills: Sequence[Fill],
        record: DecisionRecord | None,
        *,
        take_equity: Callable[[], list[EquityPoint]],
        equity_due: bool = False,
    ) -> None:
        """Apply ``fills``, then store them with ``orders``, ``record`` and the equity samples
        ``take_equity()`` hands over, in one transaction; then publish what changed.
        Nothing is written when there is nothing new and no equity is due (``equity_due``)."""
        touched: dict[str, Position | None] = {}
        events: list[OrderFilled | PositionChanged] = []
        booked: list[Fill] = []
        if self.applied is not None:  # a fill is applied once, however often it is reported
            fills = [f for f in fills if f.fill_id not in self.applied]
        for f in fills:
            # Stamped no earlier than the last fill applied: the wallet is rebuilt from fills in
            # time order, which must be the order they were applied in (a late lookup's fill
            # comes after an exit made meanwhile).
            if f.ts < self.portfolio.last_fill_ts:
                f = replace(f, ts=self.portfolio.last_fill_ts)
            realised = self.portfolio.apply(f)
            booked.append(replace(f, realised=realised))
            if f.side is Side.BUY and self.portfolio.position(f.symbol) is not None:
                o = next((o for o in orders if o.client_order_id == f.client_order_id), None)
                if o is not None:
                    self.portfolio.set_stops(f.symbol, o.stop_loss, o.take_profit)
            pos = self.portfolio.position(f.symbol)
            touched[f.symbol] = pos
            events.append(_filled(self.bot, f, realised))
            events.append(
                PositionChanged(f.ts, self.bot, f.symbol, self._position_view(pos) if pos else None)
            )
        if not (orders or fills or record) and not equity_due:
            return
        equity = take_equity()
        try:
            await self.store.record_cycle(
                self.bot,
                orders=list(orders),
                fills=booked,
                positions=touched,
                decision=record,
                equity=equity,
            )
        except BaseException:
            # Memory must never run ahead of the ledger: rebuild it from what is stored.
            if self._reload is not None:
                try:
                    self.portfolio = await asyncio.shield(self._reload())
                except Exception:  # noqa: BLE001
                    self._lost()
            raise
        if self.applied is not None:
            self.applied.update(f.fill_id for f in booked)
        for ev in events:
            self.bus.publish(ev)


def split(executions: Sequence[Execution]) -> tuple[list[Order], list[Fill]]:
    """The orders and their new fills, as one cycle's write takes them."""
    return [e.order for e in executions], [f for e in executions for f in e.fills]


def _filled(bot: str, f: Fill, realised: Decimal) -> OrderFilled:
    return OrderFilled(
        f.ts,
        bot,
        f.symbol,
        f.side.value,
        f.qty,
        f.price,
        f.fee,
        f.reason.value,
        realised,
        f.client_order_id,
    )
