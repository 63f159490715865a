"""Start-up reconciliation of the journal with the exchange: orphans (exchange orders of ours
the journal does not know as open), ghosts (journal-open orders not open on the exchange) and
balance drift. Each difference carries the actions a user may choose: adopt or ignore.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from typing import Any

from oxbot.engine.broker import Execution
from oxbot.engine.models import Order, OrderReason, OrderStatus, Side, to_decimal

from .broker import CcxtBroker, _with, bot_prefix


@dataclass(frozen=True, slots=True)
class Difference:
    """One disagreement. ``kind``: "orphan", "ghost" or "balance"."""

    kind: str
    symbol: str
    detail: str
    client_order_id: str = ""
    actions: tuple[str, ...] = ("adopt", "ignore")
    exchange_order: dict[str, Any] | None = field(default=None, compare=False, repr=False)


async def reconcile(broker: CcxtBroker, bot: str, symbols: Iterable[str],
                    positions: Mapping[str, Decimal] | None = None) -> list[Difference]:
    """Compare the journal with the exchange for ``bot`` (no changes made; see ``apply``).
    ``positions`` (symbol -> base qty the ledger holds) enables the balance check."""
    c, clients = broker.client, broker.clients
    prefix = bot_prefix(bot)
    diffs: list[Difference] = []
    db_open = {o.client_order_id: o for o in await broker.journal.open_orders(bot)}
    seen: set[str] = set()
    for symbol in symbols:
        opened = await clients.read(c, partial(c.fetch_open_orders, symbol),
                                    f"fetch open orders {symbol}")
        for raw in opened:
            coid = str(raw.get("clientOrderId") or "")
            if not coid.startswith(prefix):
                continue  # not ours (manual trading on the same account)
            seen.add(coid)
            if coid not in db_open:
                diffs.append(Difference("orphan", symbol, f"exchange order {raw.get('id')} "
                                        f"({coid}) is open but unknown to the database", coid,
                                        exchange_order=dict(raw)))
    for coid, order in db_open.items():
        if coid in seen:
            continue
        raw = await broker.find_order(order.symbol, coid)
        where = "is not on the exchange" if raw is None else f"is {raw.get('status')} there"
        diffs.append(Difference("ghost", order.symbol, f"database order {coid} "
                                f"({order.status.value}) {where}", coid,
                                exchange_order=raw))
    if positions is not None:
        balance = await clients.read(c, c.fetch_balance, "fetch balance")
        for symbol, qty in positions.items():
            base = symbol.split("/")[0]
            held = to_decimal((balance.get(base) or {}).get("total") or 0)
            if held != qty:
                diffs.append(Difference("balance", symbol, f"the ledger holds {qty} {base}, "
                                        f"the exchange {held}", actions=("ignore",)))
    return diffs


async def apply(broker: CcxtBroker, bot: str, diff: Difference, action: str) -> Execution | None:
    """Carry out the user's choice. "adopt" makes the journal match the exchange and returns
    the execution (fills to record); "ignore" changes nothing."""
    if action == "ignore":
        return None
    if action != "adopt" or "adopt" not in diff.actions:
        raise ValueError(f"action {action!r} is not possible for a {diff.kind}; "
                         f"use one of {diff.actions}")
    raw = diff.exchange_order
    if diff.kind == "ghost":
        order = await broker.journal.get_order(diff.client_order_id)
        assert order is not None
        if raw is None:  # never reached the exchange: it was not placed
            rejected = _with(order, OrderStatus.REJECTED)
            await broker.journal.save_order(rejected)
            return Execution(rejected, ())
        return await broker._adopt(order, raw)
    assert raw is not None
    order = Order(diff.client_order_id, bot, diff.symbol, Side(str(raw["side"])),
                  to_decimal(raw["amount"]), OrderReason.ENTRY, OrderStatus.PENDING,
                  int(raw.get("timestamp") or 0))
    return await broker._adopt(order, raw)
