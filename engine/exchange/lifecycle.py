"""The life of a LIVE order, moved only on evidence from the exchange.

    PENDING (the intent, committed before any I/O)
      -> UNKNOWN (sent; the reply was lost, empty, an error that proves nothing)
       | ACKNOWLEDGED (the exchange gave an id but no state: OKX's place-order reply)
      -> OPEN -> PARTIALLY_FILLED -> FILLED | CANCELED (fills stand) | REJECTED

Rules, each learnt from an exchange that broke the naive version:

- A state is taken only from a reply that states it (ccxt's unified ``status``). A reply with an
  id and no status is ACKNOWLEDGED; a reply with no id is no evidence at all.
- "Not found" is not proof that nothing was placed: exchanges apply queued requests after the
  client gave up (Binance checks ``recvWindow`` again in its matching engine, so a request can
  still be applied up to that long after it was signed; OKX accepts a request whose timestamp is
  up to 30 s old; quirks.py holds these windows). An UNKNOWN order is looked up again, with
  backoff, for longer than that processing window; after it, it is listed for
  reconciliation, never silently rejected.
- States never move backwards: a stale lookup cannot reopen a filled order.
- FILLED (and CANCELED with fills) means every fill is in the ledger: the order keeps its
  previous state until the trades the exchange lists add up to what it says was filled.
- Fees are what the exchange charged, in the coin it charged them in (ccxt ``fee``/``fees``).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from oxbot.engine.models import (
    ZERO,
    Fill,
    Order,
    OrderStatus,
    base_of,
    quote_of,
    to_decimal,
)

# ccxt's unified order statuses (docs.ccxt.com, "Order structure": open, closed, canceled,
# expired, rejected; ``None`` when the exchange's reply does not say).
CCXT_STATUS: Mapping[str, OrderStatus] = {
    "open": OrderStatus.OPEN,
    "closed": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
    "cancelled": OrderStatus.CANCELED,
    "expired": OrderStatus.CANCELED,
    "rejected": OrderStatus.REJECTED,
}
RANK: Mapping[OrderStatus, int] = {
    OrderStatus.PENDING: 0,
    OrderStatus.UNKNOWN: 1,
    OrderStatus.ACKNOWLEDGED: 2,
    OrderStatus.OPEN: 3,
    OrderStatus.PARTIALLY_FILLED: 4,
    OrderStatus.FILLED: 5,
    OrderStatus.CANCELED: 5,
    OrderStatus.REJECTED: 5,
}
UNRESOLVED = frozenset(s for s in OrderStatus if not s.terminal)


@dataclass(frozen=True, slots=True)
class Evidence:
    """What one exchange reply says about an order."""

    exchange_order_id: str
    status: OrderStatus | None  # None: the reply gives an id but no state
    filled: Decimal | None  # base amount filled so far, when the reply says
    trades: tuple[Mapping[str, Any], ...]
    client_order_id: str = ""


def _dec(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        d = to_decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        return None
    return d if d.is_finite() else None


def read_order(raw: Any) -> Evidence | None:
    """The evidence in a ccxt unified order; None when it is not an order (an empty or
    malformed reply, no id): such a reply proves nothing."""
    if not isinstance(raw, Mapping):
        return None
    oid = raw.get("id")
    if oid is None or str(oid).strip() in ("", "None", "null"):
        return None
    status = CCXT_STATUS.get(str(raw.get("status") or "").lower())
    filled = _dec(raw.get("filled"))
    if status is OrderStatus.OPEN and filled is not None and filled > 0:
        status = OrderStatus.PARTIALLY_FILLED
    trades = tuple(t for t in raw.get("trades") or () if isinstance(t, Mapping))
    return Evidence(str(oid), status, filled, trades, str(raw.get("clientOrderId") or ""))


def advance(order: Order, evidence: Evidence, *, filled_in_ledger: Decimal) -> Order:
    """``order`` moved by ``evidence``, given the base amount its fills in the ledger (these
    fills included) add up to. Never moves backwards; a filled state waits for its fills."""
    want = evidence.status
    if want is None:
        want = OrderStatus.ACKNOWLEDGED
    if want in (OrderStatus.FILLED, OrderStatus.CANCELED):
        expected = evidence.filled
        if want is OrderStatus.FILLED and expected is None:
            expected = order.qty
        if expected is not None and filled_in_ledger < expected:
            # The exchange says more was filled than the trades we hold: not final yet.
            want = OrderStatus.PARTIALLY_FILLED if filled_in_ledger > 0 else OrderStatus.OPEN
    elif want is OrderStatus.OPEN and filled_in_ledger > 0:
        want = OrderStatus.PARTIALLY_FILLED
    if RANK[want] < RANK[order.status] or order.status.terminal:
        want = order.status
    return dataclasses.replace(
        order, status=want, exchange_order_id=order.exchange_order_id or evidence.exchange_order_id
    )


def moved(order: Order, status: OrderStatus) -> Order:
    """``order`` in ``status`` (the journal's record of a state learnt without fills)."""
    return dataclasses.replace(order, status=status)


# --------------------------------------------------------------------------- fills


def fills_from_trades(
    order: Order, trades: Iterable[Mapping[str, Any]], exchange_id: str, ts: int
) -> tuple[Fill, ...]:
    """The fills of ``order`` in the exchange's trades (ccxt trade structures). A fill's id is
    the exchange's trade id, so a trade seen by a reply, a lookup and a restart is one fill.
    Trades without an id are skipped: they cannot be told apart from their next sighting."""
    out: dict[str, Fill] = {}
    for t in trades:
        tid = t.get("id")
        if tid is None or str(tid) in ("", "None"):
            continue
        if (
            order.exchange_order_id
            and t.get("order") not in (None, "")
            and str(t.get("order")) != order.exchange_order_id
        ):
            continue
        qty, price = _dec(t.get("amount")), _dec(t.get("price"))
        if qty is None or price is None or qty <= 0 or price <= 0:
            continue
        fee, currency, cost = fee_of(t, order.symbol, price)
        fid = f"{exchange_id}:{tid}"
        out[fid] = Fill(
            fid,
            order.client_order_id,
            order.bot,
            order.symbol,
            order.side,
            qty,
            price,
            fee,
            ts,
            order.reason,
            fee_currency=currency,
            fee_cost=cost,
        )
    return tuple(out.values())


def fee_of(
    trade: Mapping[str, Any], symbol: str, price: Decimal
) -> tuple[Decimal, str, Decimal | None]:
    """(quote value, currency, amount in that currency) of a trade's fee. A fee in the quote
    currency is itself; in the base coin it is worth ``amount * price``; in a third coin (BNB)
    it is not priced (0). Several fee entries in one coin are summed; entries in two coins keep
    the one that changes what the account holds (base), then the quote."""
    entries = [f for f in trade.get("fees") or () if isinstance(f, Mapping)]
    if not entries and isinstance(trade.get("fee"), Mapping):
        entries = [trade["fee"]]
    by_ccy: dict[str, Decimal] = {}
    for f in entries:
        cost = _dec(f.get("cost"))
        ccy = str(f.get("currency") or "").upper()
        if cost is None or not ccy:
            continue
        by_ccy[ccy] = by_ccy.get(ccy, ZERO) + cost
    if not by_ccy:
        return ZERO, "", None
    base, quote = base_of(symbol), quote_of(symbol)
    ccy = base if base in by_ccy else quote if quote in by_ccy else next(iter(by_ccy))
    cost = by_ccy[ccy]
    if ccy == quote:
        return cost, ccy, cost
    if ccy == base:
        return cost * price, ccy, cost
    return ZERO, ccy, cost


def base_amount(fills: Iterable[Fill]) -> Decimal:
    return sum((f.qty for f in fills), ZERO)


# --------------------------------------------------------------------------- the watch list


@dataclass
class Watch:
    """An unresolved order being looked up: when it went unresolved, how often it was looked
    up, when next, and when the exchange last said it has no such order."""

    order: Order
    since: float
    lookups: int = 0
    not_found_at: float | None = None
    next_at: float = 0.0
    last_error: str = ""


class Watchlist:
    """Unresolved orders and their lookup schedule (monotonic seconds).

    Lookups back off from ``first_s`` doubling up to ``max_s``. An order the exchange still
    does not show once its processing window (``window_s``, with a margin) is over is
    *overdue*: the exchange can no longer apply it, so it stops blocking its symbol, but it is
    listed for reconciliation (never silently rejected) and still looked up every
    ``overdue_every_s``, so an exchange that breaks its own rule is still caught."""

    MARGIN = 1.5  # the window is stretched by half, plus clock skew:
    SKEW_S = 2.0

    def __init__(
        self,
        window_s: float,
        *,
        first_s: float = 0.25,
        max_s: float = 15.0,
        overdue_every_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.window_s = window_s
        self.first_s, self.max_s, self.overdue_every_s = first_s, max_s, overdue_every_s
        self.clock = clock
        self._watches: dict[str, Watch] = {}

    def __len__(self) -> int:
        return len(self._watches)

    def __contains__(self, coid: object) -> bool:
        return coid in self._watches

    def orders(self) -> list[Order]:
        return [w.order for w in self._watches.values()]

    def watch(self, order: Order) -> Watch:
        w = self._watches.get(order.client_order_id)
        if w is None:
            w = Watch(order, self.clock())
            self._watches[order.client_order_id] = w
        w.order = order
        return w

    def drop(self, coid: str) -> None:
        self._watches.pop(coid, None)

    def due(self, *, all_of_them: bool = False) -> list[Watch]:
        now = self.clock()
        return [w for w in self._watches.values() if all_of_them or w.next_at <= now]

    def looked_up(self, w: Watch, *, found: bool, error: str = "") -> None:
        """Record one lookup: ``found`` when the exchange knows the order, an ``error`` when
        it could not be asked (that proves nothing either way)."""
        now = self.clock()
        w.lookups += 1
        w.last_error = error
        if found:
            w.not_found_at = None
        elif not error:
            w.not_found_at = now
        delay = min(self.max_s, self.first_s * 2 ** min(w.lookups - 1, 16))
        if self.overdue(w):
            delay = self.overdue_every_s
        w.next_at = now + delay
        deadline = self.deadline(w)
        if w.order.status in (OrderStatus.PENDING, OrderStatus.UNKNOWN) and now < deadline:
            # one lookup right after the processing window: an order the exchange still does
            # not show then stops blocking its symbol without waiting out the backoff
            w.next_at = min(w.next_at, deadline + 0.05)

    def deadline(self, w: Watch) -> float:
        return w.since + self.window_s * self.MARGIN + self.SKEW_S

    def overdue(self, w: Watch) -> bool:
        """Not shown by the exchange in a lookup made after its processing window."""
        return (
            w.order.status in (OrderStatus.PENDING, OrderStatus.UNKNOWN)
            and w.not_found_at is not None
            and w.not_found_at > self.deadline(w)
        )

    def blocking(self) -> list[Order]:
        """Orders that block new orders on their symbol: every unresolved one not overdue."""
        return [w.order for w in self._watches.values() if not self.overdue(w)]

    def next_due_in(self) -> float | None:
        if not self._watches:
            return None
        return max(0.0, min(w.next_at for w in self._watches.values()) - self.clock())
