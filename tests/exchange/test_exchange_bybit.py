"""CcxtBroker against a strict fake Bybit v5 spot (fake_bybit.py, a real HTTP server in its own
process) through ccxt's real `bybit` class: the behaviours an adversary found by modelling Bybit
from its v5 docs and ccxt 4.5.90's bybit.py, each of which made the ledger and the exchange
disagree before (session 25, findings F1-F4).

What Bybit does, and where it was read (the fake's docstring has the rest):
- POST /v5/order/create answers only {orderId, orderLinkId}: no status, no fills (Bybit v5
  docs, "Place Order" response; ccxt bybit.py ``create_order`` parses it with status None).
- ccxt's ``fetch_order`` refuses on a unified account unless ``params["acknowledged"]``
  (ArgumentsRequired "can only access an order if it is in last 500 orders", bybit.py
  ``fetch_order``), and is NotSupported for spot on a classic account.
- /v5/order/realtime lists open orders only unless openOnly=1 (docs "Get Open & Closed
  Orders"); /v5/order/history filters ``orderStatus`` exactly, and a spot market order that
  ran out of liquidity ends ``PartiallyFilledCanceled`` ("only spot has this order status"),
  which is in neither ccxt's closed ("Filled") nor its canceled ("Cancelled") list.
- Spot fees: a Buy pays its fee in the base coin (execution list ``execFee`` + ``feeCoin``).
- 10014 "Request is duplicate" is mapped by ccxt to BadRequest (bybit.py ``exceptions``): the
  first copy of the request got through, so it proves nothing about the order.
- A classic account's spot market Buy ``qty`` is in the QUOTE coin (``marketUnit`` is for
  unified accounts only), and ccxt sends the base amount there (bybit.py
  ``create_order_request``, classic branch, ``createMarketBuyOrderRequiresPrice`` False).
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from oxbot.engine import errors as ox
from oxbot.engine.exchange.broker import CcxtBroker, new_client_order_id
from oxbot.engine.exchange.clients import Credentials, ExchangeClients
from oxbot.engine.exchange.endpoints import point_at
from oxbot.engine.models import OrderIntent, OrderReason, OrderStatus, Side

FAKE = Path(__file__).parent / "fake_bybit.py"
KEY, SECRET = "bybitkey0123456789", "bybitsecret0123456789abcdef"


class Bybit:
    """The fake's process, its URL and its own record (GET /_state), faults (POST /_ctl)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def state(self) -> dict[str, Any]:
        return httpx.get(f"{self.url}/_state", timeout=10).json()

    def faults(self, **kw: Any) -> None:
        httpx.post(f"{self.url}/_ctl", json=kw, timeout=10).raise_for_status()

    def order(self, link: str) -> dict[str, Any]:
        return next(o for o in self.state()["orders"] if o["orderLinkId"] == link)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def bybit(tmp_path: Path) -> Iterator[Bybit]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, str(FAKE), str(port), str(tmp_path / "state.json"), KEY, SECRET],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    fake = Bybit(f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 30
    while True:
        try:
            fake.state()
            break
        except httpx.HTTPError as e:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                err = proc.stderr.read()  # type: ignore[union-attr]
                raise RuntimeError(f"the fake Bybit did not start: {err!r}") from e
            time.sleep(0.05)
    yield fake
    proc.kill()
    proc.wait()
    proc.stderr.close()  # type: ignore[union-attr]


@pytest.fixture
async def broker(bybit: Bybit, journal: Any) -> AsyncIterator[CcxtBroker]:
    def configure(client: Any) -> None:
        point_at(client, bybit.url)
        client.timeout_on_exit = 0

    async def no_sleep(_s: float) -> None:
        return None

    clients = ExchangeClients(
        config={"bybit": {"timeout": 5000, "rateLimit": 1}},
        configure=configure,
        sleep=no_sleep,
        breaker_threshold=50,
    )
    client = await clients.private("bybit", lambda: Credentials(KEY, SECRET))
    try:
        yield CcxtBroker(client, clients, journal)
    finally:
        await clients.close_all()


def _buy(qty: str, symbol: str = "BTC/USDT") -> OrderIntent:
    return OrderIntent(
        "bb1", symbol, Side.BUY, Decimal(qty), OrderReason.ENTRY, new_client_order_id("bb1")
    )


async def _settled(broker: CcxtBroker, order: Any) -> Any:
    """Look the order up until the exchange states its end (as the engine's watch does)."""
    for _ in range(100):
        ex = await broker.refresh(order)
        if ex.order.status.terminal:
            return ex
        order = ex.order
        await asyncio.sleep(0.1)
    raise AssertionError(f"order {order.client_order_id} never reached an end: {order.status}")


def _fills_match_the_exchange(fills: list[Any], bybit: Bybit, order_id: str) -> None:
    ex = [e for e in bybit.state()["executions"] if e["orderId"] == order_id]
    assert ex, "the fake recorded no execution"
    assert sorted(f.qty for f in fills) == sorted(Decimal(e["execQty"]) for e in ex)
    # the fee as charged: in the coin bought (a Bybit spot buy), taken from what arrived
    assert sum((f.base_fee for f in fills), Decimal(0)) == sum(Decimal(e["execFee"]) for e in ex)
    assert {f.fee_currency for f in fills} == {e["feeCoin"] for e in ex} == {"BTC"}


async def test_an_ids_only_reply_and_a_refused_fetch_order_still_book_the_fills(
    bybit: Bybit, broker: CcxtBroker, journal: Any
) -> None:
    """F1: the order filled on Bybit, but ccxt's fetch_order raised ArgumentsRequired, which
    escaped ``place``: the order stayed PENDING, unwatched, no fill booked, and the next signal
    bought again. Now the order lists answer instead, and the fills are the exchange's."""
    it = _buy("0.005")
    placed = await broker.place(it, 1)
    assert placed.order.exchange_order_id  # journalled with Bybit's id, not left PENDING
    assert placed.order.status is not OrderStatus.PENDING
    assert journal.saves[-1].status is placed.order.status
    done = await _settled(broker, placed.order)
    assert done.order.status is OrderStatus.FILLED
    _fills_match_the_exchange(done.fills, bybit, placed.order.exchange_order_id)
    # what the account received: the coin bought, net of the fee taken in it
    received = sum((f.qty - f.base_fee for f in done.fills), Decimal(0))
    assert received == Decimal(bybit.state()["balances"]["BTC"])


async def test_a_partly_filled_then_cancelled_market_order_is_found_and_booked(
    bybit: Bybit, broker: CcxtBroker
) -> None:
    """F3: Bybit's PartiallyFilledCanceled is in neither of ccxt's closed/canceled lists: the
    order stayed `open` for ever, its symbol blocked and its coins called "your own"."""
    bybit.faults(fill_ratio=0.6, parts=2)
    placed = await broker.place(_buy("0.005"), 1)
    done = await _settled(broker, placed.order)
    assert bybit.order(placed.order.client_order_id)["orderStatus"] == "PartiallyFilledCanceled"
    assert done.order.status.terminal
    assert len(done.fills) == 2
    _fills_match_the_exchange(done.fills, bybit, placed.order.exchange_order_id)
    assert sum((f.qty for f in done.fills), Decimal(0)) < Decimal("0.005")


async def test_request_is_duplicate_is_not_a_refusal(bybit: Bybit, broker: CcxtBroker) -> None:
    """F4: 10014 "Request is duplicate" means a first copy got through: the order is not
    rejected (which would let the bot forget it), it is left to be looked up."""
    bybit.faults(err_create=[{"retCode": 10014, "retMsg": "Request is duplicate"}])
    placed = await broker.place(_buy("0.005"), 1)
    assert placed.order.status is not OrderStatus.REJECTED
    assert not placed.order.status.terminal


async def test_a_classic_account_market_buy_is_refused_before_anything_is_sent(
    bybit: Bybit, broker: CcxtBroker, journal: Any
) -> None:
    """F2: on a classic account ccxt sent 1521 (DOGE) as the qty Bybit reads in USDT: 10x the
    position the risk manager allowed. The buy is refused with a message, and no order reaches
    the exchange."""
    bybit.faults(unified=False)
    it = _buy("1521", "DOGE/USDT")
    with pytest.raises(ox.NotSupported, match="classic .*quote coin.*Unified Trading Account"):
        await broker.place(it, 1)
    assert bybit.state()["orders"] == []
    assert journal.saves[-1].client_order_id == it.client_order_id
    assert journal.saves[-1].status is OrderStatus.REJECTED  # void: nothing was sent
