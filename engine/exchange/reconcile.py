"""Reconciliation of a LIVE bot's journal with the exchange.

Unresolved orders are not differences: the watch list looks them up until the exchange states
their end (live.py). What is left to find here:

- "orphan": an order of ours (our client order id prefix) the exchange lists, open or closed,
  that the database does not know (it lost the row: a restore from an old backup, a purge);
- "ghost": an order the database holds as ended without fills (rejected, cancelled) that the
  exchange shows as filled — the book was closed on a guess;
- "unknown": an order sent and never shown by the exchange past its processing window (listed by
  live.py, resolved here);
- "balance": the account holds less of a coin than the bots on it think they hold (account.py).

Each carries the actions a user may choose: adopt (make the database match the exchange) or
ignore. Nothing here writes fills: adopting returns an ``Execution`` for the bot's ledger.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from oxbot.engine.broker import Execution
from oxbot.engine.models import Order, OrderReason, OrderStatus, Side, to_decimal

from .broker import CcxtBroker, bot_prefix, list_call, order_lists
from .lifecycle import moved, read_order


@dataclass(frozen=True, slots=True)
class Difference:
    """One disagreement. ``kind``: "orphan", "ghost", "unknown", "balance" or "info" (a fact
    to tell, nothing to choose)."""

    kind: str
    symbol: str
    detail: str
    client_order_id: str = ""
    actions: tuple[str, ...] = ("adopt", "ignore")
    exchange_order: dict[str, Any] | None = field(default=None, compare=False, repr=False)


async def exchange_orders(broker: CcxtBroker, symbol: str) -> list[dict[str, Any]]:
    """The orders the exchange lists for ``symbol``: open ones, and recent ended ones where
    the exchange can list them (``order_lists``: all orders on Binance, closed and cancelled
    on OKX, every end state on Bybit)."""
    c, clients = broker.client, broker.clients
    rows: list[Any] = []
    for name in order_lists(c):  # the open orders whatever ``has`` says, as before
        call, what = list_call(c, name, symbol)
        rows += await clients.read(c, call, what) or []
    return [dict(r) for r in rows if isinstance(r, dict)]


async def reconcile(
    broker: CcxtBroker,
    bot: str,
    symbols: Iterable[str],
    holdings: Mapping[str, Decimal] | None = None,
) -> list[Difference]:
    """Compare the journal of ``bot`` with what the exchange lists (no changes made; see
    ``apply``). ``holdings`` is unused here: the account check is account.py's."""
    prefix = bot_prefix(bot)
    diffs: list[Difference] = []
    seen: set[str] = set()
    for symbol in symbols:
        for raw in await exchange_orders(broker, symbol):
            coid = str(raw.get("clientOrderId") or "")
            if not coid.startswith(prefix) or coid in seen:
                continue  # not ours (manual trading on the same account), or seen already
            seen.add(coid)
            evidence = read_order(raw)
            if evidence is None:
                continue
            db = await broker.journal.get_order(coid)
            filled = evidence.filled or Decimal(0)
            if db is None:
                diffs.append(
                    Difference(
                        "orphan",
                        symbol,
                        f"exchange order {evidence.exchange_order_id} ({coid}, "
                        f"{raw.get('side')} {raw.get('amount')}, {raw.get('status')}, filled "
                        f"{filled}) is unknown to the database",
                        coid,
                        exchange_order=raw,
                    )
                )
            elif (
                db.status in (OrderStatus.REJECTED, OrderStatus.CANCELED)
                and filled > 0
                and not await broker.journal.order_fills(coid)
            ):
                diffs.append(
                    Difference(
                        "ghost",
                        symbol,
                        f"database order {coid} is {db.status.value} without "
                        f"fills, the exchange shows it {raw.get('status')} with {filled} filled",
                        coid,
                        exchange_order=raw,
                    )
                )
    return diffs


async def apply(broker: CcxtBroker, bot: str, diff: Difference, action: str) -> Execution | None:
    """Carry out the user's choice. "adopt" makes the journal match the exchange and returns
    the execution (the order and its fills, to record); "ignore" changes nothing."""
    if action == "ignore":
        return None
    if action != "adopt" or "adopt" not in diff.actions:
        raise ValueError(
            f"action {action!r} is not possible for a {diff.kind}; use one of {diff.actions}"
        )
    if diff.kind == "unknown":  # never shown by the exchange: it was not placed
        order = await broker.journal.get_order(diff.client_order_id)
        assert order is not None
        if order.status.terminal:
            return Execution(order, ())
        rejected = moved(order, OrderStatus.REJECTED)
        await broker.journal.save_order(rejected)
        return Execution(rejected, ())
    raw = diff.exchange_order or {}
    evidence = read_order(raw)
    assert evidence is not None
    db = await broker.journal.get_order(diff.client_order_id)
    if db is None:  # orphan: ours by its id, so the journal takes it as an entry/exit of bot
        side = Side(str(raw.get("side")))
        db = Order(
            diff.client_order_id,
            bot,
            diff.symbol,
            side,
            to_decimal(raw["amount"]),
            OrderReason.ENTRY if side is Side.BUY else OrderReason.EXIT,
            OrderStatus.ACKNOWLEDGED,
            int(raw.get("timestamp") or 0),
            evidence.exchange_order_id,
        )
    else:  # ghost: reopened on the exchange's word, then settled as any order
        db = dataclasses.replace(
            db, status=OrderStatus.ACKNOWLEDGED, exchange_order_id=evidence.exchange_order_id
        )
    return await broker.refresh(db)
