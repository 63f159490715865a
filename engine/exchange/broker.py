"""``CcxtBroker``: one exchange's order calls for LIVE bots, and nothing more clever than that.

- ``place`` saves the intent PENDING through the journal before any network I/O, then sends
  ``create_order`` ONCE. It is never re-sent: some exchanges refuse a duplicate client order id
  only while the first order is open, so a resend after a filled market order would buy twice.
  An answer that proves nothing (a timeout, a reset, a 5xx, a 429, an empty or malformed body,
  "duplicate client order id") leaves the order UNKNOWN, to be looked up.
- ``refresh`` looks an order up (by the exchange's id once known, else by our client order id)
  and reads its trades; ``lifecycle.advance`` decides what the evidence allows.
Fill ids are the exchange's trade ids, so a fill seen by a reply, a lookup and a restart replay
is one fill.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import itertools
import logging
import secrets
import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from oxbot.engine.broker import Execution
from oxbot.engine.errors import (
    AuthError,
    ExchangeError,
    NotSupported,
    OrderNotFound,
    TemporaryError,
)
from oxbot.engine.models import Fill, Order, OrderIntent, OrderStatus

from .clients import ExchangeClients
from .errors import refused, translate
from .lifecycle import Evidence, advance, base_amount, fills_from_trades, moved, read_order
from .quirks import check_market_buy

log = logging.getLogger("oxbot.live")

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
    at most 26 chars of ``[a-z0-9]``: Binance allows 36 of ``[.A-Z:/a-z0-9_-]``, OKX 32 of
    ``[A-Za-z0-9]``."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    return (
        bot_prefix(bot)
        + _b36(now_ms)
        + _b36(next(_COUNTER) % 1296).rjust(2, "0")
        + secrets.token_hex(3)[:5]
    )


class OrderJournal(Protocol):
    """What the broker needs from storage (the Store implements these)."""

    async def save_order(self, order: Order) -> None: ...

    async def get_order(self, client_order_id: str) -> Order | None: ...

    async def open_orders(self, bot: str) -> Sequence[Order]: ...

    async def order_fills(self, client_order_id: str) -> Sequence[Fill]: ...


@dataclasses.dataclass(frozen=True, slots=True)
class Placed:
    """What sending an order did: the order as it now stands, fills it brought, and the error
    that left it unknown (if any)."""

    execution: Execution
    error: ExchangeError | None = None

    @property
    def order(self) -> Order:
        return self.execution.order


def cannot_look_up(err: BaseException) -> bool:
    """Whether ``err`` (a translated lookup error) says ccxt cannot make that lookup on this
    exchange at all (NotSupported, ArgumentsRequired), as opposed to the exchange failing."""
    cause = err.__cause__
    names = {cls.__name__ for cls in type(cause).__mro__} if cause is not None else set()
    return isinstance(err, NotSupported) or bool(names & {"NotSupported", "ArgumentsRequired"})


def _snake(name: str) -> str:
    return "".join(f"_{ch.lower()}" if ch.isupper() else ch for ch in name)


def order_lists(c: Any) -> list[str]:
    """The ccxt lists (method names) that show a symbol's orders in every state, in the order
    to read them: the open orders, then every order where the exchange lists them all
    (Binance), else every end state at once (Bybit: its PartiallyFilledCanceled is neither in
    its "Filled" nor in its "Cancelled" list, adversary s25 F3), else the closed and the
    cancelled lists (ccxt's closed lists leave out orders that ended partly filled: Binance
    filters on "closed", OKX asks for state=filled; the cancelled list has those). The order
    lookup (``CcxtBroker._search_lists``) and the reconciliation read the same lists."""
    names = ["fetchOpenOrders"]
    if c.has.get("fetchOrders") is True:
        names.append("fetchOrders")
    elif c.has.get("fetchCanceledAndClosedOrders") is True:
        names.append("fetchCanceledAndClosedOrders")
    else:
        names += [n for n in ("fetchClosedOrders", "fetchCanceledOrders") if c.has.get(n) is True]
    return names


def list_call(c: Any, name: str, symbol: str) -> tuple[Any, str]:
    """``name``'s call for ``symbol`` and its words for a message ("fetch open orders BTC/USDT")."""
    words = _snake(name).replace("_", " ")
    return functools.partial(getattr(c, _snake(name)), symbol), f"{words} {symbol}"


class CcxtBroker:
    """Orders of LIVE bots on one exchange. ``client`` is a keyed ccxt client from
    ``ExchangeClients.private``; lookups go through ``clients.read`` (retries + breaker)."""

    def __init__(self, client: Any, clients: ExchangeClients, journal: OrderJournal) -> None:
        self.client = client
        self.clients = clients
        self.journal = journal

    @property
    def exchange_id(self) -> str:
        return str(self.client.id)

    # ------------------------------------------------------------------ placing

    async def place(self, intent: OrderIntent, ts: int) -> Placed:
        """Send ``intent`` as a market order, once. Raises the mapped error when the exchange
        refuses it (the order is then REJECTED in the journal); otherwise the order is as far
        as the reply proves (UNKNOWN when it proves nothing)."""
        coid = intent.client_order_id
        known = await self.journal.get_order(coid)
        if known is not None and known.status is not OrderStatus.PENDING:
            return Placed(Execution(known, ()))  # already sent once: never again
        order = known or Order(
            coid,
            intent.bot,
            intent.symbol,
            intent.side,
            intent.qty,
            intent.reason,
            OrderStatus.PENDING,
            ts,
            stop_loss=intent.stop_loss,
            take_profit=intent.take_profit,
        )
        await self.journal.save_order(order)  # the intent is durable before any I/O
        try:
            await self.clients.markets(self.exchange_id)
            amount = float(self.client.amount_to_precision(intent.symbol, str(intent.qty)))
            if intent.side.value == "buy":
                await check_market_buy(self.client)
        except Exception as e:  # noqa: BLE001 - nothing was sent: the intent is void
            err = translate(e, f"prepare order {coid} on {self.exchange_id}")
            await self.journal.save_order(moved(order, OrderStatus.REJECTED))
            raise err from e
        try:
            raw = await self.client.create_order(
                intent.symbol, "market", intent.side.value, amount, None, {"clientOrderId": coid}
            )
        except Exception as e:  # noqa: BLE001 - translated right here
            err = translate(
                e,
                f"create order {coid} {intent.side} {intent.qty} "
                f"{intent.symbol} on {self.exchange_id}",
            )
            if not refused(e):  # a timeout, a 5xx, an empty or foreign reply: unknown
                unknown = moved(order, OrderStatus.UNKNOWN)
                await self.journal.save_order(unknown)
                log.warning(
                    "%s: order %s sent, outcome unknown (%s); looking it up", intent.bot, coid, err
                )
                return Placed(Execution(unknown, ()), err)
            await self.journal.save_order(moved(order, OrderStatus.REJECTED))
            raise err from e
        evidence = read_order(raw)
        if evidence is None or (evidence.client_order_id and evidence.client_order_id != coid):
            unknown = moved(order, OrderStatus.UNKNOWN)
            await self.journal.save_order(unknown)
            log.warning(
                "%s: the reply to order %s names no order (%.80r); looking it up",
                intent.bot,
                coid,
                raw,
            )
            return Placed(Execution(unknown, ()))
        fills = fills_from_trades(
            dataclasses.replace(order, exchange_order_id=evidence.exchange_order_id),
            evidence.trades,
            self.exchange_id,
            ts,
        )
        placed = advance(order, evidence, filled_in_ledger=base_amount(fills))
        if not placed.status.terminal:
            try:  # an answer without the end state (OKX, Bybit: ids only): ask once right away
                return Placed(await self.refresh(placed, fills, ts))
            except ExchangeError as e:
                # The exchange accepted the order: whatever the lookup raised (temporary, or a
                # lookup ccxt refuses to make), it is journalled and watched, never dropped
                # (adversary s25 F1: an exception here left it PENDING and unwatched).
                log.info("%s: order %s placed, state not known yet (%s)", intent.bot, coid, e)
        if not fills:
            await self.journal.save_order(placed)
        return Placed(Execution(placed, fills))

    # ------------------------------------------------------------------ evidence

    async def lookup(self, order: Order) -> Evidence | None:
        """The exchange's order: by its id once known, else by our client order id. None when
        the exchange says it has no such order (not proof that none was placed). Raises
        TemporaryError when the exchange cannot be asked now."""
        c, coid = self.client, order.client_order_id
        if order.exchange_order_id:
            call, what = (
                lambda: c.fetch_order(order.exchange_order_id, order.symbol),
                f"fetch order {order.exchange_order_id}",
            )
        else:
            call, what = (
                lambda: c.fetch_order(None, order.symbol, {"clientOrderId": coid}),
                f"fetch order {coid}",
            )
        try:
            raw = await self.clients.read(c, call, what)
        except OrderNotFound:
            return await self._search_lists(order)
        except ExchangeError as e:
            if not cannot_look_up(e):
                raise
            # ccxt will not look one order up on this exchange (Bybit spot: ArgumentsRequired
            # "acknowledged" on a unified account, NotSupported on a classic one): the lists
            # by symbol say it instead.
            return await self._search_lists(order)
        evidence = read_order(raw)
        # Only "order not found" says the exchange has no such order. A reply that names no
        # order (an empty or non-JSON 200: ccxt raises nothing for those) or another order
        # says nothing: ask again later.
        if evidence is None or evidence.client_order_id not in ("", coid):
            raise TemporaryError(
                f"{what} on {self.exchange_id}: the reply names "
                f"{'another' if evidence else 'no'} order"
            )
        return evidence

    async def _search_lists(self, order: Order) -> Evidence | None:
        """Open and closed order lists, for exchanges whose single-order lookup misses
        recent orders (or knows them only by id)."""
        c, coid = self.client, order.client_order_id
        for name in order_lists(c):
            if not c.has.get(name):
                continue
            call, what = list_call(c, name, order.symbol)
            try:
                rows = await self.clients.read(c, call, what)
            except (OrderNotFound, ExchangeError) as e:
                if isinstance(e, TemporaryError):
                    raise
                continue
            for raw in rows or ():
                if isinstance(raw, dict) and raw.get("clientOrderId") == coid:
                    return read_order(raw)
        return None

    async def trades(self, order: Order) -> list[dict[str, Any]]:
        """The exchange's trades of a placed order (ccxt trade structures)."""
        c, oid = self.client, order.exchange_order_id
        if not oid:
            return []
        if c.has.get("fetchOrderTrades"):
            rows = await self.clients.read(
                c,
                lambda: c.fetch_order_trades(oid, order.symbol),
                f"fetch trades of {order.client_order_id}",
            )
        else:
            rows = await self.clients.read(
                c,
                lambda: c.fetch_my_trades(order.symbol, None, None, {"orderId": oid}),
                f"fetch trades of {order.client_order_id}",
            )
        return [
            dict(t) for t in rows or () if isinstance(t, dict) and str(t.get("order") or oid) == oid
        ]

    async def refresh(self, order: Order, fresh: Sequence[Fill] = (), ts: int = 0) -> Execution:
        """Look ``order`` up and read its trades: the order as the evidence now allows, with
        the fills the ledger does not hold yet (``fresh`` are fills already in hand that are
        not stored yet). Raises TemporaryError when the exchange cannot be asked."""
        stored = list(await self.journal.order_fills(order.client_order_id))
        evidence = await self.lookup(order)
        if evidence is None:
            return Execution(order, tuple(fresh))
        order = dataclasses.replace(
            order, exchange_order_id=order.exchange_order_id or evidence.exchange_order_id
        )
        held = {f.fill_id for f in stored} | {f.fill_id for f in fresh}
        new = list(fresh)
        trades: Sequence[Mapping[str, Any]] = list(evidence.trades)
        if (evidence.filled or 0) > base_amount(stored) + base_amount(fresh) and not [
            t for t in trades if f"{self.exchange_id}:{t.get('id')}" not in held
        ]:
            trades = await self.trades(order)
        for f in fills_from_trades(order, trades, self.exchange_id, ts):
            if f.fill_id not in held:
                new.append(f)
                held.add(f.fill_id)
        done = base_amount(stored) + base_amount(new)
        after = advance(order, evidence, filled_in_ledger=done)
        if after.status is not order.status and not new:
            await self.journal.save_order(after)
        return Execution(after, tuple(new))

    async def cancel(self, order: Order) -> Execution:
        """Cancel an open order; the evidence that follows decides its state."""
        c = self.client
        try:
            await c.cancel_order(
                order.exchange_order_id or "",
                order.symbol,
                {} if order.exchange_order_id else {"clientOrderId": order.client_order_id},
            )
        except Exception as e:  # noqa: BLE001
            err = translate(e, f"cancel order {order.client_order_id}")
            if isinstance(err, AuthError):
                raise err from e
        return await self.refresh(order)

    async def close(self) -> None:
        """The client belongs to ``ExchangeClients``; it closes it on shutdown."""


__all__ = ["CcxtBroker", "Placed", "bot_prefix", "new_client_order_id"]
