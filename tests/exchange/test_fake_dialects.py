"""Conformance of both fake exchanges, through the REAL ccxt clients (binance and okx, 4.5.90):
every endpoint oxbot uses, and the UNIFIED structures ccxt returns for each dialect. These tests
document for the order lifecycle what a real exchange gives back; each assertion says where the
behaviour was read ("ccxt x.py ~N" = .venv/.../ccxt/async_support/x.py near line N; "docs" =
the exchange's API docs, from memory, not installed here).

Dialect-only rules are in test_fake_binance_rules.py / test_fake_okx_rules.py, faults in
test_fake_faults.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt
import pytest
from module_loading import load_by_path
from waiting import wait_for

venues = load_by_path("_oxbot_exchange_tests_venues", Path(__file__).with_name("venues.py"))
SYM, dec = venues.SYMBOL, venues.dec
USDT0 = Decimal("1000000")


@pytest.fixture(params=["binance", "okx"])
async def venue(request: Any) -> AsyncIterator[Any]:
    v = await venues.open_venue(request.param)
    yield v
    await venues.close_venue(v)


async def test_load_markets_calls_the_real_endpoints_and_reads_the_filters(venue: Any) -> None:
    m = venue.client.markets[SYM]
    paths = {p for _, p, _ in venue.fake.requests}
    if venue.kind == "binance":
        # ccxt binance.py fetch_markets ~3392: spot exchangeInfo + linear (fapi) + inverse (dapi),
        # with keys also margin pairs (fetchMargins); fetch_currencies ~3157: capital/config.
        assert paths == {
            "/api/v3/exchangeInfo",
            "/fapi/v1/exchangeInfo",
            "/dapi/v1/exchangeInfo",
            "/sapi/v1/margin/allPairs",
            "/sapi/v1/margin/isolated/allPairs",
            "/sapi/v1/capital/config/getall",
        }
        # LOT_SIZE stepSize / PRICE_FILTER tickSize become precision (TICK_SIZE mode).
        assert (m["precision"]["amount"], m["precision"]["price"]) == (1e-05, 0.01)
        assert m["limits"]["amount"]["min"] == 1e-05 and m["limits"]["cost"]["min"] == 0.5
    else:
        # ccxt okx.py fetch_markets ~1760: SPOT, FUTURES, SWAP, OPTION (x2 uly); with keys
        # fetch_currencies ~2020 calls the PRIVATE asset/currencies.
        kinds = sorted(
            e["params"].get("instType")
            for e in venue.fake.log
            if e["path"] == "/api/v5/public/instruments"
        )
        assert kinds == ["FUTURES", "OPTION", "OPTION", "SPOT", "SWAP"]
        assert paths == {"/api/v5/public/instruments", "/api/v5/asset/currencies"}
        # okx.py parse_market ~1930: lotSz -> precision.amount, tickSz -> price, minSz -> min.
        assert (m["precision"]["amount"], m["precision"]["price"]) == (1e-08, 0.1)
        assert m["limits"]["amount"]["min"] == 1e-05
    assert m["id"] == ("BTCUSDT" if venue.kind == "binance" else "BTC-USDT") and m["spot"]


async def test_candles_ticker_and_book(venue: Any) -> None:
    rows = await venue.client.fetch_ohlcv(SYM, "1m", limit=3)
    want = venue.fake.klines[-3:]
    # Binance klines are oldest first (ccxt binance.py parse_ohlcv ~4918); OKX candles come
    # newest first and ccxt sorts them (okx.py fetch_ohlcv ~2641, parse_ohlcvs).
    assert [r[0] for r in rows] == [k[0] for k in want]
    assert [r[4] for r in rows] == [float(k[4]) for k in want]
    ticker = await venue.client.fetch_ticker(SYM)
    assert (ticker["last"], ticker["bid"], ticker["ask"]) == (100.0, 100.0, 100.0)
    book = await venue.client.fetch_order_book(SYM)
    assert book["bids"][0][0] == book["asks"][0][0] == 100.0


async def test_market_buy_then_sell_fees_in_the_asset_received(venue: Any) -> None:
    c, fake = venue.client, venue.fake
    buy = await c.create_order(SYM, "market", "buy", 0.01)
    if venue.kind == "binance":
        # FULL reply (ccxt sends newOrderRespType FULL, binance.py ~7109): status and fills.
        assert (buy["status"], buy["filled"]) == ("closed", 0.01)
        assert buy["fee"] == {"currency": "BTC", "cost": 1e-05}
    else:
        # OKX's place-order reply has ids only (okx.py parse_order ~3990 quotes it):
        # ccxt leaves status, filled, amount, fee unknown.
        assert (buy["status"], buy["filled"], buy["amount"], buy["fee"]) == (None, None, None, None)
        assert buy["id"] and buy["clientOrderId"]
    # Binance without BNB and OKX spot take a buy's fee in the coin bought: 1 BTC bought
    # credits 0.999 BTC (Binance fee schedule; OKX docs fills feeCcy).
    assert fake.balances["BTC"] == Decimal("0.00999")
    assert fake.balances["USDT"] == USDT0 - 1
    (trade,) = await c.fetch_order_trades(buy["id"], SYM)
    assert trade["fee"] == {"currency": "BTC", "cost": 1e-05}
    assert (trade["side"], trade["amount"], trade["price"]) == ("buy", 0.01, 100.0)
    bal = await c.fetch_balance()
    assert bal["BTC"]["total"] == 0.00999 and bal["USDT"]["total"] == 999999.0
    sell = await c.create_order(SYM, "market", "sell", 0.005)
    (trade,) = await c.fetch_order_trades(sell["id"], SYM)
    assert trade["fee"] == {"currency": "USDT", "cost": 0.0005}  # a sell pays in quote
    assert fake.balances == {"USDT": USDT0 - 1 + Decimal("0.4995"), "BTC": Decimal("0.00499")}


async def test_fetch_order_by_id_and_by_client_order_id(venue: Any) -> None:
    c = venue.client
    placed = await c.create_order(SYM, "market", "buy", 0.01, None, {"clientOrderId": "abc123"})
    by_id = await c.fetch_order(placed["id"], SYM)
    by_coid = await c.fetch_order(None, SYM, {"clientOrderId": "abc123"})
    for o in (by_id, by_coid):
        assert (o["id"], o["clientOrderId"], o["status"]) == (placed["id"], "abc123", "closed")
        assert (o["amount"], o["filled"], o["average"]) == (0.01, 0.01, 100.0)
    if venue.kind == "binance":
        # GET /api/v3/order carries no commission: ccxt's order has no fee (binance.py
        # parse_order ~6600 reads only a 'fee' field); fees come from myTrades.
        assert (by_id["fee"], by_id["fees"]) == (None, [])
        assert venue.sent("order")[-1]["origClientOrderId"] == "abc123"
    else:
        # OKX order details carry fee (negative) and feeCcy; ccxt negates (okx.py ~4224).
        assert by_id["fee"] == {"cost": 1e-05, "currency": "BTC"}
        assert venue.sent("order")[-1]["clOrdId"] == "abc123"


async def test_open_orders_cancel_and_closed_orders(venue: Any) -> None:
    c = venue.client
    market = await c.create_order(SYM, "market", "buy", 0.01)
    rest = await c.create_order(SYM, "limit", "buy", 0.01, 90, {"clientOrderId": "rest1"})
    assert [o["id"] for o in await c.fetch_open_orders(SYM)] == [rest["id"]]
    assert venue.fake.balances["USDT"] == USDT0 - 1  # a resting order only locks funds
    bal = await c.fetch_balance()
    assert bal["USDT"]["used"] == 0.9 and bal["USDT"]["free"] == 999998.1
    cancelled = await c.cancel_order(rest["id"], SYM)
    if venue.kind == "binance":
        # DELETE /api/v3/order answers with clientOrderId = the CANCEL request's own id and
        # the order's in origClientOrderId (docs); ccxt parse_order ~6610 takes clientOrderId.
        assert cancelled["status"] == "canceled" and cancelled["clientOrderId"] != "rest1"
        assert cancelled["info"]["origClientOrderId"] == "rest1"
    else:
        # OKX cancel-order answers ids only: ccxt's status is None (okx.py cancel_order ~3706).
        assert (cancelled["status"], cancelled["clientOrderId"]) == (None, "rest1")
    assert (await c.fetch_order(rest["id"], SYM))["status"] == "canceled"
    with pytest.raises(ccxt.OrderNotFound):  # Binance -2011, OKX 51401 (ccxt exceptions)
        await c.cancel_order(rest["id"], SYM)
    with pytest.raises(ccxt.OrderNotFound):  # cancelling a filled order: -2011 / 51402
        await c.cancel_order(market["id"], SYM)
    assert await c.fetch_open_orders(SYM) == []
    assert [o["id"] for o in await c.fetch_closed_orders(SYM)] == [market["id"]]


async def test_an_unknown_order_is_order_not_found(venue: Any) -> None:
    # Binance -2013 "Order does not exist." / OKX code 51603 (ccxt exceptions: OrderNotFound).
    with pytest.raises(ccxt.OrderNotFound):
        await venue.client.fetch_order("123456", SYM)
    with pytest.raises(ccxt.OrderNotFound):
        await venue.client.fetch_order(None, SYM, {"clientOrderId": "neverSent1"})


async def test_a_client_order_id_blocks_only_while_its_order_is_open(venue: Any) -> None:
    """Binance docs (newClientOrderId "A unique id among open orders") and OKX (clOrdId reuse:
    "only the latest one will be returned"): a resend after a FILL makes a second order."""
    c, fake = venue.client, venue.fake
    first = await c.create_order(SYM, "market", "buy", 0.01, None, {"clientOrderId": "dup1"})
    again = await c.create_order(SYM, "market", "buy", 0.01, None, {"clientOrderId": "dup1"})
    assert again["id"] != first["id"]
    assert [o["client_order_id"] for o in fake.orders_view()] == ["dup1", "dup1"]
    assert fake.balances["BTC"] == Decimal("0.01998")  # bought twice
    # A lookup by client id answers the newest of the two.
    assert (await c.fetch_order(None, SYM, {"clientOrderId": "dup1"}))["id"] == again["id"]
    await c.create_order(SYM, "limit", "buy", 0.01, 90, {"clientOrderId": "dup2"})
    # While open: Binance -2010 "Duplicate order sent.", OKX sCode 51016 "Duplicated clOrdId";
    # ccxt maps BOTH to InvalidOrder, never DuplicateOrderId (binance.py ~2721, okx.py ~836).
    with pytest.raises(ccxt.InvalidOrder) as info:
        await c.create_order(SYM, "limit", "buy", 0.01, 90, {"clientOrderId": "dup2"})
    assert not isinstance(info.value, ccxt.DuplicateOrderId)
    assert ("Duplicate order sent." if venue.kind == "binance" else "Duplicated clOrdId") in str(
        info.value
    )


async def test_insufficient_balance(venue: Any) -> None:
    # Binance -2010 "Account has insufficient balance for requested action." (ccxt maps the
    # message, binance.py ~2817); OKX sCode 51008 (okx.py ~829). Nothing is placed.
    venue.fake.balances["USDT"] = Decimal("50")
    with pytest.raises(ccxt.InsufficientFunds):
        await venue.client.create_order(SYM, "market", "sell", 1)
    with pytest.raises(ccxt.InsufficientFunds):
        await venue.client.create_order(SYM, "market", "buy", 1)
    assert venue.fake.orders == {}


async def test_lot_size_the_client_did_not_round_to_is_refused(venue: Any) -> None:
    c, fake = venue.client, venue.fake
    # The exchange changed its lot after ccxt cached the markets: ccxt rounds to the old one.
    if venue.kind == "binance":
        fake.step_size = Decimal("0.001")
        with pytest.raises(ccxt.InvalidOrder, match="LOT_SIZE"):  # binance.py ~12599
            await c.create_order(SYM, "market", "buy", 0.0123)
        fake.step_size, fake.min_notional = Decimal("0.00001"), Decimal("5")
        # -1013 "Filter failure: NOTIONAL" is only BadRequest for ccxt (shared table ~2689)
        with pytest.raises(ccxt.BadRequest, match="NOTIONAL"):
            await c.create_order(SYM, "market", "buy", 0.01)
    else:
        fake.lot_sz = Decimal("0.001")
        with pytest.raises(ccxt.InvalidOrder, match="51121"):  # okx.py ~886
            await c.create_order(SYM, "market", "buy", 0.0123)
        fake.lot_sz = Decimal("0.00000001")
        with pytest.raises(ccxt.InvalidOrder, match="51020"):  # below minSz, okx.py ~840
            await c.create_order(SYM, "market", "buy", 0.000001)
    assert fake.orders == {}


async def test_a_market_order_the_book_cannot_fill_ends_partially_filled(venue: Any) -> None:
    c, fake = venue.client, venue.fake
    fake.depth = [(Decimal(0), Decimal("0.004")), (Decimal("0.5"), Decimal("0.004"))]
    placed = await c.create_order(SYM, "market", "buy", 0.01)
    order = await c.fetch_order(placed["id"], SYM)
    # Binance: EXPIRED (docs: "MARKET orders that partially fill") -> ccxt 'expired'
    # (binance.py ~5918); OKX: the rest is cancelled -> 'canceled' (okx.py ~3973).
    assert order["status"] == ("expired" if venue.kind == "binance" else "canceled")
    assert (order["amount"], order["filled"]) == (0.01, 0.008)
    trades = await c.fetch_order_trades(placed["id"], SYM)
    assert sorted((t["price"], t["amount"]) for t in trades) == [(100.0, 0.004), (100.5, 0.004)]
    assert fake.balances["BTC"] == Decimal("0.008") - Decimal("0.000008")
    assert fake.balances["USDT"] == USDT0 - Decimal("0.4") - Decimal("0.402")
    # fetch_closed_orders keeps only 'closed' (binance.py ~8081 filters; okx.py asks
    # state=filled, ~4827): a partly filled market order is NOT among the closed orders.
    assert await c.fetch_closed_orders(SYM) == []
    assert fake.audit() == {}


async def test_lookups_before_the_exchange_has_the_order(venue: Any) -> None:
    """``order_lag_s``: the exchange accepted the order but its lookups do not know it yet."""
    c, fake = venue.client, venue.fake
    fake.order_lag_s = 0.3
    placed = await c.create_order(SYM, "market", "buy", 0.01, None, {"clientOrderId": "lag1"})
    with pytest.raises(ccxt.OrderNotFound):
        await c.fetch_order(None, SYM, {"clientOrderId": "lag1"})
    assert await c.fetch_open_orders(SYM) == [] and await c.fetch_closed_orders(SYM) == []
    await wait_for(
        lambda: fake.visible(next(iter_orders(fake)), 0.3), 5.0, "the order to become visible"
    )
    assert (await c.fetch_order(placed["id"], SYM))["status"] == "closed"


async def test_fills_listed_later_than_the_order_state(venue: Any) -> None:
    c, fake = venue.client, venue.fake
    fake.fills_lag_s = 0.3
    placed = await c.create_order(SYM, "market", "buy", 0.01)
    assert (await c.fetch_order(placed["id"], SYM))["filled"] == 0.01
    assert await c.fetch_order_trades(placed["id"], SYM) == []  # filled, yet no trade
    await wait_for(
        lambda: fake.visible(next(iter_orders(fake)), 0.3), 5.0, "the order to become visible"
    )
    assert len(await c.fetch_order_trades(placed["id"], SYM)) == 1


async def test_a_market_order_matched_after_the_reply(venue: Any) -> None:
    c, fake = venue.client, venue.fake
    fake.match_lag_s = 0.2
    placed = await c.create_order(SYM, "market", "buy", 0.01)
    first = await c.fetch_order(placed["id"], SYM)
    assert (first["status"], first["filled"]) == ("open", 0.0)  # NEW / live
    await fake.settle()
    assert (await c.fetch_order(placed["id"], SYM))["status"] == "closed"


async def test_uniform_views(venue: Any) -> None:
    c, fake = venue.client, venue.fake
    await c.create_order(SYM, "market", "buy", 0.01, None, {"clientOrderId": "view1"})
    await c.create_order(SYM, "limit", "sell", 0.005, 150, {"clientOrderId": "view2"})
    assert fake.exchange_id == venue.kind
    assert set(fake.credentials()) == (
        {"apiKey", "secret"} if venue.kind == "binance" else {"apiKey", "secret", "password"}
    )
    filled, resting = fake.orders_view()
    assert {
        k: filled[k] for k in ("client_order_id", "symbol", "side", "status", "amount", "filled")
    } == {
        "client_order_id": "view1",
        "symbol": SYM,
        "side": "buy",
        "status": "filled",
        "amount": Decimal("0.01"),
        "filled": Decimal("0.01"),
    }
    (trade,) = filled["trades"]
    assert trade == fake.trades_view()[0]
    assert {
        k: trade[k] for k in ("client_order_id", "side", "amount", "price", "fee", "fee_currency")
    } == {
        "client_order_id": "view1",
        "side": "buy",
        "amount": Decimal("0.01"),
        "price": Decimal("100"),
        "fee": Decimal("0.00001"),
        "fee_currency": "BTC",
    }
    assert trade["exchange_order_id"] == filled["exchange_order_id"]
    assert (resting["status"], resting["filled"], resting["trades"]) == ("open", 0, [])
    assert fake.balances == {"USDT": USDT0 - 1, "BTC": Decimal("0.00999")}
    assert fake.audit() == {}  # balances = start + trades, filled = sum of each order's trades


def iter_orders(fake: Any) -> Any:
    return (o.created_mono for o in fake.orders.values())
