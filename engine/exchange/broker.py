"""``CcxtBroker``: LIVE orders through ccxt, done safely.

The order intent is saved PENDING through the journal before any network I/O; ``create_order``
is never blindly retried: when its outcome is unknown (timeout, dropped connection, 5xx) the
order is looked up by our clientOrderId and adopted, or re-sent ONCE with the same id (the
exchange rejects a true duplicate). Fill ids are the exchange's trade ids, so a fill seen by
stream, poll and restart replay is one fill (the store ignores duplicate fill ids).
"""

from __future__ import annotations

import hashlib
import itertools
import secrets
import time
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Protocol

from oxbot.engine.broker import Broker, Execution
from oxbot.engine.errors import ExchangeError, OrderNotFound, TemporaryError
from oxbot.engine.models import Fill, Order, OrderIntent, OrderStatus, to_decimal

from .clients import ExchangeClients
from .errors import DuplicateOrderId, translate

_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"
_COUNTER = itertools.count()


def _b36(n: int) -> str:
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = _B36[r] + out
        if n == 0:
            return out


def bot_prefix(bot: str) -> str:
    """``ox`` + a 6-char hash of the bot name: every clientOrderId of the bot starts with it."""
    return "ox" + hashlib.sha256(bot.encode()).hexdigest()[:6]


def new_client_order_id(bot: str, now_ms: int | None = None) -> str:
    """A clientOrderId unique across restarts (time in ms + a process counter + randomness),
    at most 26 chars of ``[a-z0-9]`` (Binance allows 36 of ``[.A-Z:/a-z0-9_-]``)."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    return (bot_prefix(bot) + _b36(now_ms) + _b36(next(_COUNTER) % 1296).rjust(2, "0")
            + secrets.token_hex(3)[:5])


class OrderJournal(Protocol):
    """What the broker needs from storage (the Store implements exactly these)."""

    async def save_order(self, order: Order) -> None: ...

    async def get_order(self, client_order_id: str) -> Order | None: ...

    async def open_orders(self, bot: str) -> Sequence[Order]: ...

    async def record_cycle(self, bot: str, *, orders: Sequence[Order] = ...,
                           fills: Sequence[Fill] = ..., positions: Any = ...) -> None: ...


_STATUS = {"open": OrderStatus.OPEN, "closed": OrderStatus.FILLED,
           "canceled": OrderStatus.CANCELED, "cancelled": OrderStatus.CANCELED,
           "expired": OrderStatus.CANCELED, "rejected": OrderStatus.REJECTED}


class CcxtBroker(Broker):
    """Market orders on one exchange for LIVE bots. ``client`` is a keyed ccxt client from
    ``ExchangeClients.private``; reads go through ``clients.read`` (retries + breaker)."""

    def __init__(self, client: Any, clients: ExchangeClients, journal: OrderJournal) -> None:
        self.client = client
        self.clients = clients
        self.journal = journal

    @property
    def exchange_id(self) -> str:
        return str(self.client.id)

    # ------------------------------------------------------------------ execute
    async def execute(self, intent: OrderIntent, ref_price: Decimal, ts: int) -> Execution:
        """Place ``intent`` as a market order. Raises the mapped error when the exchange
        refuses it (the order is then REJECTED in the journal), ``TemporaryError`` when its
        outcome stays unknown (the order stays PENDING; ``reconcile`` settles it)."""
        coid = intent.client_order_id
        known = await self.journal.get_order(coid)
        if known is not None and known.status is not OrderStatus.PENDING:
            return Execution(known, ())  # already placed: executing twice must not re-send
        order = known or Order(coid, intent.bot, intent.symbol, intent.side, intent.qty,
                               intent.reason, OrderStatus.PENDING, ts,
                               stop_loss=intent.stop_loss, take_profit=intent.take_profit)
        await self.journal.save_order(order)  # the intent is durable before any I/O
        await self.clients.markets(self.exchange_id)
        for attempt in (1, 2):
            try:
                raw = await self.client.create_order(
                    intent.symbol, "market", intent.side.value,
                    float(self.client.amount_to_precision(intent.symbol, str(intent.qty))), None,
                    {"clientOrderId": coid})
            except Exception as e:  # noqa: BLE001 - translated right here
                err = translate(e, f"create order {coid} {intent.side} {intent.qty} "
                                   f"{intent.symbol} on {self.exchange_id}")
                if not isinstance(err, (TemporaryError, DuplicateOrderId)):
                    await self.journal.save_order(_with(order, OrderStatus.REJECTED))
                    raise err from e
                # Outcome unknown (or "duplicate": the first send got through): look it up.
                found = await self.find_order(intent.symbol, coid)
                if found is not None:
                    return await self._adopt(order, found)
                if attempt == 2:
                    if isinstance(err, DuplicateOrderId):
                        raise err from e  # exists, yet not visible: leave PENDING
                    await self.journal.save_order(_with(order, OrderStatus.REJECTED))
                    raise TemporaryError(f"order {coid} was not accepted after two sends "
                                         f"({err}); nothing was placed") from e
                continue  # not on the exchange: re-send ONCE with the same clientOrderId
            return await self._adopt(order, raw)
        raise AssertionError("unreachable")

    async def find_order(self, symbol: str, coid: str) -> dict[str, Any] | None:
        """The exchange's order with our ``coid``: open orders first, then by id lookup,
        then closed orders. None when the exchange has no such order."""
        c = self.client
        opened = await self.clients.read(c, lambda: c.fetch_open_orders(symbol),
                                         f"fetch open orders {symbol}")
        for o in opened:
            if o.get("clientOrderId") == coid:
                return dict(o)
        if c.has.get("fetchOrder"):
            try:
                return dict(await self.clients.read(
                    c, lambda: c.fetch_order("", symbol, {"clientOrderId": coid}),
                    f"fetch order {coid}"))
            except OrderNotFound:
                return None
        if c.has.get("fetchClosedOrders"):
            closed = await self.clients.read(c, lambda: c.fetch_closed_orders(symbol),
                                             f"fetch closed orders {symbol}")
            for o in closed:
                if o.get("clientOrderId") == coid:
                    return dict(o)
        return None

    async def _adopt(self, order: Order, raw: dict[str, Any]) -> Execution:
        status = _STATUS.get(str(raw.get("status")), OrderStatus.OPEN)
        filled = to_decimal(raw.get("filled") or 0)
        if status is OrderStatus.CANCELED and filled > 0:
            status = OrderStatus.FILLED  # partially filled then cancelled: the fills stand
        placed = Order(order.client_order_id, order.bot, order.symbol, order.side, order.qty,
                       order.reason, status, order.ts, exchange_order_id=str(raw.get("id")),
                       stop_loss=order.stop_loss, take_profit=order.take_profit)
        fills = await self.fills_for(placed, raw) if filled > 0 else ()
        await self.journal.save_order(placed)
        return Execution(placed, fills)

    async def fills_for(self, order: Order, raw: dict[str, Any] | None = None
                        ) -> tuple[Fill, ...]:
        """The fills of a placed order, keyed by exchange trade id (idempotent)."""
        trades = [t for t in (raw or {}).get("trades") or [] if t.get("id")]
        if not trades:
            c = self.client
            params = {"orderId": order.exchange_order_id}
            trades = await self.clients.read(
                c, lambda: c.fetch_my_trades(order.symbol, None, None, params),
                f"fetch trades of {order.client_order_id}")
            trades = [t for t in trades if str(t.get("order")) == order.exchange_order_id]
        return tuple(self._fill(order, t) for t in trades)

    def _fill(self, order: Order, t: dict[str, Any]) -> Fill:
        price = to_decimal(t["price"])
        qty = to_decimal(t["amount"])
        fee_cost = to_decimal((t.get("fee") or {}).get("cost") or 0)
        fee_ccy = (t.get("fee") or {}).get("currency")
        base, quote = order.symbol.split("/")[0], order.symbol.split("/")[1].split(":")[0]
        # The ledger counts fees in the quote currency; other fee coins (BNB) are not priced.
        fee = fee_cost if fee_ccy == quote else fee_cost * price if fee_ccy == base else Decimal(0)
        return Fill(f"{self.exchange_id}:{t['id']}", order.client_order_id, order.bot,
                    order.symbol, order.side, qty, price, fee,
                    int(t.get("timestamp") or order.ts), order.reason)

    async def cancel(self, order: Order) -> Order:
        """Cancel an open order; its new state is saved and returned."""
        c = self.client
        try:
            await c.cancel_order(order.exchange_order_id or "", order.symbol,
                                 {} if order.exchange_order_id else
                                 {"clientOrderId": order.client_order_id})
        except Exception as e:  # noqa: BLE001
            err = translate(e, f"cancel order {order.client_order_id}")
            if not isinstance(err, (OrderNotFound, ExchangeError)):
                raise err from e
            found = await self.find_order(order.symbol, order.client_order_id)
            if found is None:
                raise err from e
            return (await self._adopt(order, found)).order
        canceled = _with(order, OrderStatus.CANCELED)
        await self.journal.save_order(canceled)
        return canceled

    async def close(self) -> None:
        """The client belongs to ``ExchangeClients``; it closes it on shutdown."""


def _with(order: Order, status: OrderStatus) -> Order:
    return Order(order.client_order_id, order.bot, order.symbol, order.side, order.qty,
                 order.reason, status, order.ts, order.exchange_order_id, order.stop_loss,
                 order.take_profit)
